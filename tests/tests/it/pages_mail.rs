//! Mail to one address is capped per node (`[mail] max_per_address`): asking for password
//! resets over and over sends the address its share and no more, while every answer stays the
//! one an unknown address gets.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::{Browser, mailed_links};
use authd_tests::{Cluster, wait_until};

use crate::util::{create_user, uniq, wait_user_visible};

/// A counter's value in node `id`'s Prometheus text (0 when absent).
pub(crate) async fn counter(cluster: &Cluster, id: u64, name: &str) -> Result<f64> {
    let text = cluster.api(id).metrics().await?.body;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

#[tokio::test]
async fn reset_mails_to_one_address_are_capped_and_the_answer_never_changes() -> Result<()> {
    let cluster = Cluster::start(1, |c| {
        c.mail.insert("max_per_address".into(), 2.into());
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("mailcap");
    let user = create_user(&cluster.api(1), &name).await?;
    wait_user_visible(&cluster, 1, &name, &user["id"]).await?;
    let email = format!("{name}@example.org");
    let b = Browser::new(&cluster.base_url(1)?)?;
    let mut answers = Vec::new();
    for _ in 0..5 {
        let r = b
            .submit("/password-reset", "/password-reset", &[("email", &email)])
            .await?;
        ensure!(r.status == 200, "{}", r.describe());
        answers.push(
            r.body
                .split("csrf_token")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    ensure!(
        answers.iter().all(|a| Some(a) == answers.first()),
        "the answer changed once the cap was reached"
    );
    // Mail goes out in the background: wait until all five were decided (2 sent, 3 dropped).
    let dir = cluster.data_dir(1)?;
    let prefix = format!("{}/password-reset?token=", cluster.base_url(1)?);
    wait_until(
        "the reset mails to be sent or dropped",
        Duration::from_secs(10),
        || {
            let (cluster, dir, email, prefix) = (&cluster, &dir, &email, &prefix);
            async move {
                let dropped = counter(cluster, 1, "authd_mail_dropped_total").await?;
                let sent = mailed_links(dir, email, prefix).len();
                ensure!(
                    dropped >= 3.0 && sent >= 2,
                    "dropped {dropped}, sent {sent}"
                );
                Ok(())
            }
        },
    )
    .await?;
    let sent = mailed_links(&dir, &email, &prefix);
    ensure!(sent.len() == 2, "{} mails went to one address", sent.len());
    // Another address is not affected by the first one's cap.
    let other = uniq("mailcap2");
    let user2 = create_user(&cluster.api(1), &other).await?;
    wait_user_visible(&cluster, 1, &other, &user2["id"]).await?;
    let email2 = format!("{other}@example.org");
    b.submit("/password-reset", "/password-reset", &[("email", &email2)])
        .await?;
    wait_until("the other address's mail", Duration::from_secs(10), || {
        let l = mailed_links(&dir, &email2, &prefix).pop();
        async move { l.context("no mail yet") }
    })
    .await?;
    Ok(())
}

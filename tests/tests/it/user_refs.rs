//! User ids and all-digit usernames never collide: new all-digit names are refused
//! everywhere, and a legacy account named `00001` (imported from tapir) is found by its name
//! through the API and the CLI, while `id:N` names an id (`authd_auth::user_ref`).

use anyhow::{Result, ensure};
use authd_tests::browser::Browser;
use authd_tests::tapir::TapirDb;

use crate::legacy_util::legacy_cluster;
use crate::pages_register::{register, registration};
use crate::util::{PASSWORD, email_of};

const OLD: &str = "thepassword";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_usernames_and_ids_are_unambiguous() -> Result<()> {
    let t = TapirDb::sqlite().await?;
    let (cluster, _) = legacy_cluster(&t.url).await?;
    let api = cluster.api(1);

    // Tapir id 1 is "alpha01", id 2 is the all-digit "00001"; logging in imports them.
    let first = t.add_user("alpha01", OLD, true).await?;
    let numeric = t.add_user("00001", OLD, true).await?;
    ensure!((first, numeric) == (1, 2), "tapir ids {first}, {numeric}");
    let alpha = Browser::new(&cluster.base_url(1)?)?;
    let digits = Browser::new(&cluster.base_url(1)?)?;
    ensure!(
        alpha.login("alpha01", OLD).await?.status == 303,
        "alpha login"
    );
    ensure!(
        digits.login("00001", OLD).await?.status == 303,
        "00001 login"
    );

    let by_name = api.get_user("00001").await?.expect(200)?;
    ensure!(
        by_name["username"] == "00001" && by_name["id"] == 2,
        "GET /users/00001 must be the user named 00001: {by_name}"
    );
    let by_id = api.get_user("id:1").await?.expect(200)?;
    ensure!(by_id["username"] == "alpha01", "id:1 -> {by_id}");
    ensure!(api.get_user("id:x").await?.status == 404, "id:x");

    // The CLI agrees: revoking "00001" ends that user's sessions, not id 1's.
    cluster
        .cli_json(&["session", "revoke"], &["--user", "00001"], None)
        .await?;
    let r = digits.get("/user").await?;
    ensure!(
        r.status == 303,
        "00001's session must be over: {}",
        r.describe()
    );
    let r = alpha.get("/user").await?;
    ensure!(
        r.status == 200,
        "id 1's session must live: {}",
        r.describe()
    );

    // New all-digit names are refused by the API, the CLI and the registration form.
    let r = api
        .create_user("12345", &email_of("n12345"), PASSWORD, false)
        .await?;
    ensure!(r.status == 400, "API: {} {}", r.status, r.body);
    let out = cluster
        .cli(
            &["user", "add"],
            &[
                "--username",
                "54321",
                "--email",
                &email_of("n54321"),
                "--password-stdin",
            ],
            Some(PASSWORD.as_bytes()),
        )
        .await?;
    ensure!(!out.status.success(), "CLI accepted an all-digit username");
    let b = Browser::new(&cluster.base_url(1)?)?;
    let page = register(&b, &cluster.jwt_secret()?, &registration("123456")).await?;
    ensure!(
        page.status == 400 && page.field_error("username").is_some(),
        "registration: {}",
        page.describe()
    );
    ensure!(
        api.get_user("123456").await?.status == 404,
        "{}",
        api.get_user("123456").await?.body
    );
    Ok(())
}

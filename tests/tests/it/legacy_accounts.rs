//! Account pages in legacy mode: a password change writes through to the tapir tables (the
//! classic site and legacy-mode login take the new password, not the old one), and a tapir
//! account whose id an authd-only account already holds is never logged in as that account;
//! registration and e-mail verification write through too.

use anyhow::{Context, Result, ensure};
use authd_legacy::{TapirStore, password};
use authd_tests::browser::Browser;
use authd_tests::tapir::TapirDb;

use crate::legacy_util::legacy_cluster;
use crate::pages_register::{mailed, path_of, register, registration};
use crate::util::{create_user, uniq};

const OLD: &str = "thepassword";
const NEW: &str = "a-brand-new-passphrase-77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_password_change_writes_through_and_id_clashes_are_refused() -> Result<()> {
    let t = TapirDb::sqlite().await?;
    let (cluster, _) = legacy_cluster(&t.url).await?;
    let b = Browser::new(&cluster.base_url(1)?)?;

    // An authd-only account takes id 1; the first tapir account also has id 1.
    let op = create_user(&cluster.api(1), &uniq("op")).await?;
    let clash = uniq("c");
    let clash_id = t.add_user(&clash, OLD, true).await?;
    ensure!(
        op["id"].as_u64() == Some(clash_id),
        "ids: {op} vs {clash_id}"
    );
    let r = b.login(&clash, OLD).await?;
    ensure!(
        r.status == 400,
        "a clashing id must not log in: {}",
        r.describe()
    );
    ensure!(b.cookie("ARXIVNG_SESSION_ID").is_none());

    let nick = uniq("p");
    let id = t.add_user(&nick, OLD, true).await?;
    ensure!(b.login(&nick, OLD).await?.status == 303, "legacy login");
    let r = b
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", OLD),
                ("new_password", NEW),
                ("new_password2", NEW),
            ],
        )
        .await?;
    ensure!(r.status == 200, "password change: {}", r.describe());
    let enc =
        t.db.account_by_id(id)
            .await?
            .and_then(|a| a.password_enc)
            .context("row")?;
    ensure!(
        password::verify(NEW, &enc) && !password::verify(OLD, &enc),
        "tapir hash not updated"
    );
    let fresh = Browser::new(&cluster.base_url(2)?)?;
    ensure!(
        fresh.login(&nick, OLD).await?.status == 400,
        "the old password is gone"
    );
    ensure!(
        fresh.login(&nick, NEW).await?.status == 303,
        "the new one works"
    );

    // A password the legacy format cannot hold is refused with a clear message, changing nothing.
    let r = fresh
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", NEW),
                ("new_password", "pässwörd-ñew-1234"),
                ("new_password2", "pässwörd-ñew-1234"),
            ],
        )
        .await?;
    ensure!(
        r.status != 200 && r.status < 500,
        "non-ASCII: {}",
        r.describe()
    );
    let enc2 =
        t.db.account_by_id(id)
            .await?
            .and_then(|a| a.password_enc)
            .context("row")?;
    ensure!(enc2 == enc, "tapir hash changed by a refused change");
    ensure!(
        Browser::new(&cluster.base_url(3)?)?
            .login(&nick, NEW)
            .await?
            .status
            == 303
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_registration_and_verification_write_through() -> Result<()> {
    let t = TapirDb::sqlite().await?;
    let (cluster, _) = legacy_cluster(&t.url).await?;
    let secret = cluster.jwt_secret()?;
    let b = Browser::new(&cluster.base_url(1)?)?;

    // A nickname the classic site already has is taken, though authd never saw it.
    let taken = uniq("t");
    t.add_user(&taken, OLD, true).await?;
    let r = register(&b, &secret, &registration(&taken)).await?;
    ensure!(
        r.status == 400 && r.field_error("username").is_some(),
        "{}",
        r.describe()
    );

    let name = uniq("r");
    let r = register(&b, &secret, &registration(&name)).await?;
    ensure!(r.status == 200, "{}", r.describe());
    let user = cluster.api(1).get_user(&name).await?.expect(200)?;
    let id = user["id"].as_u64().context("id")?;
    let row =
        t.db.account_by_id(id)
            .await?
            .context("tapir row under the same id")?;
    ensure!(
        row.nickname == name && row.flag_email_verified == 0,
        "{row:?}"
    );
    ensure!(
        b.login(&name, crate::util::PASSWORD).await?.status == 400,
        "unverified"
    );

    let link = mailed(
        &cluster,
        1,
        &format!("{name}@example.org"),
        "/verify?token=",
    )
    .await?;
    ensure!(b.get(path_of(&link)).await?.status == 200, "verify");
    let row = t.db.account_by_id(id).await?.context("row")?;
    ensure!(row.flag_email_verified == 1, "tapir flag not set: {row:?}");
    ensure!(
        b.login(&name, crate::util::PASSWORD).await?.status == 303,
        "legacy login after verification"
    );
    Ok(())
}

//! Outgoing mail (verification and password-reset links): over SMTP when `[mail] smtp_url` is
//! set, otherwise into an outbox directory in the node's data dir, one `.eml` file per mail,
//! for development and tests. Bodies are never logged: they hold single-use links.

use std::path::PathBuf;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use thiserror::Error;

/// Why a mail was not sent.
#[derive(Debug, Error)]
pub enum MailError {
    /// An address or header did not parse.
    #[error("bad mail: {0}")]
    Bad(String),
    /// The SMTP server or the outbox refused it.
    #[error("mail not delivered: {0}")]
    Delivery(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Sends mail one way or the other.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    limit: authd_web::rate_limit::Window,
}

impl Mailer {
    /// SMTP (`smtp://`, `smtps://`, `smtp://host?tls=required`, lettre's URL syntax) or, when
    /// `smtp_url` is `None`, the outbox directory (created if missing).
    pub fn new(
        from: &str,
        smtp_url: Option<&str>,
        outbox: PathBuf,
        limit: authd_web::rate_limit::Window,
    ) -> Result<Mailer, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Bad(format!("[mail] from: {e}")))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Bad(format!("[mail] smtp_url: {e}")))?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    MailError::Delivery(format!("creating {}: {e}", outbox.display()))
                })?;
                Transport::Outbox(AsyncFileTransport::new(&outbox), outbox)
            }
        };
        Ok(Mailer {
            from,
            transport,
            limit,
        })
    }

    /// Send one plain-text mail, unless `to` already got its share (then quietly nothing).
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError::Bad(format!("to: {e}")))?;
        let recipient = to.email.to_string().to_lowercase();
        if self
            .limit
            .allow(&recipient, std::time::Instant::now())
            .is_err()
        {
            tracing::warn!(subject, "mail dropped: this address got its share for now");
            metrics::counter!("authd_mail_dropped_total").increment(1);
            return Ok(());
        }
        // Links are longer than a mail line may be: quoted-printable keeps them intact.
        let body = Body::new_with_encoding(body, ContentTransferEncoding::QuotedPrintable)
            .map_err(|_| MailError::Bad("body".into()))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(body),
            )
            .map_err(|e| MailError::Bad(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(msg)
                    .await
                    .map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(subject, "mail sent over SMTP");
            }
            Transport::Outbox(t, dir) => {
                let id = t
                    .send(msg)
                    .await
                    .map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(
                    subject,
                    file = %dir.join(format!("{id}.eml")).display(),
                    "no SMTP configured: mail written to the outbox"
                );
            }
        }
        metrics::counter!("authd_mail_sent_total").increment(1);
        Ok(())
    }
}

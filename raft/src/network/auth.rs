//! The cluster secret and the mutual challenge-response handshake that opens every connection.
//!
//! Wire format (all fixed-size, no length prefixes):
//! 1. server → client: `S` (16 random bytes)
//! 2. client → server: `C` (16 random bytes) ‖ `HMAC(secret, "authd-raft-v1|client|" ‖ S ‖ C)`
//! 3. server → client: `HMAC(secret, "authd-raft-v1|server|" ‖ S ‖ C)`, sent only once the
//!    client's proof verified, so a peer without the secret learns nothing.
//!
//! Both sides then use `HMAC(secret, "authd-raft-v1|key|" ‖ S ‖ C)` as the per-connection frame key.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// HMAC-SHA256, the only primitive the transport uses.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of each side's random nonce.
pub(crate) const NONCE_LEN: usize = 16;
/// Length of an HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;
/// A peer that has not completed the handshake by then is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

const LABEL_CLIENT: &[u8] = b"authd-raft-v1|client|";
const LABEL_SERVER: &[u8] = b"authd-raft-v1|server|";
const LABEL_KEY: &[u8] = b"authd-raft-v1|key|";

/// Shortest accepted cluster secret, so a typo'd or placeholder secret is caught at startup.
pub const MIN_SECRET_LEN: usize = 16;

/// The shared secret every node of the cluster holds; cheap to clone, never printed.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

/// Why a cluster secret was rejected.
#[derive(Debug, Error)]
#[error("cluster secret must be at least {MIN_SECRET_LEN} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

impl ClusterSecret {
    /// Wraps the secret, refusing ones too short to resist guessing.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    fn mac(
        &self,
        label: &[u8],
        s: &[u8; NONCE_LEN],
        c: &[u8; NONCE_LEN],
    ) -> io::Result<HmacSha256> {
        let mut mac = keyed(&self.0)?;
        mac.update(label);
        mac.update(s);
        mac.update(c);
        Ok(mac)
    }

    fn tag(
        &self,
        label: &[u8],
        s: &[u8; NONCE_LEN],
        c: &[u8; NONCE_LEN],
    ) -> io::Result<[u8; TAG_LEN]> {
        Ok(self.mac(label, s, c)?.finalize().into_bytes().into())
    }

    fn verify(
        &self,
        label: &[u8],
        s: &[u8; NONCE_LEN],
        c: &[u8; NONCE_LEN],
        tag: &[u8],
    ) -> Result<(), HandshakeError> {
        self.mac(label, s, c)?
            .verify_slice(tag)
            .map_err(|_| HandshakeError::BadProof)
    }

    fn session_key(&self, s: &[u8; NONCE_LEN], c: &[u8; NONCE_LEN]) -> io::Result<SessionKey> {
        let key = self.tag(LABEL_KEY, s, c)?;
        Ok(SessionKey(keyed(&key)?))
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// The per-connection frame key, already loaded into an HMAC state that is cloned per frame.
#[derive(Clone)]
pub(crate) struct SessionKey(pub(crate) HmacSha256);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// HMAC accepts keys of any length; the error path exists only because the API is fallible.
pub(crate) fn keyed(key: &[u8]) -> io::Result<HmacSha256> {
    <HmacSha256 as KeyInit>::new_from_slice(key)
        .map_err(|_| io::Error::other("invalid HMAC key length"))
}

fn random_nonce() -> io::Result<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(format!("getrandom: {e}")))?;
    Ok(nonce)
}

/// Why a handshake failed.
#[derive(Debug, Error)]
pub(crate) enum HandshakeError {
    /// The peer's proof did not verify: it does not hold our secret (or is not an authd node).
    #[error("handshake proof did not verify")]
    BadProof,
    /// Client side: the server hung up after seeing our proof, i.e. it rejected our secret.
    #[error("server closed the connection after our proof: {0}")]
    Refused(io::Error),
    /// The stream failed or closed mid-handshake.
    #[error("i/o during handshake: {0}")]
    Io(#[from] io::Error),
}

impl HandshakeError {
    /// Label for logs and the refusal metric.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::BadProof => "bad_handshake",
            Self::Refused(_) | Self::Io(_) => "handshake_incomplete",
        }
    }
}

/// Server side of the handshake; the caller bounds it with [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn server_handshake<S>(
    stream: &mut S,
    secret: &ClusterSecret,
) -> Result<SessionKey, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let s = random_nonce()?;
    stream.write_all(&s).await?;
    stream.flush().await?;
    let mut c = [0u8; NONCE_LEN];
    stream.read_exact(&mut c).await?;
    let mut proof = [0u8; TAG_LEN];
    stream.read_exact(&mut proof).await?;
    secret.verify(LABEL_CLIENT, &s, &c, &proof)?;
    stream.write_all(&secret.tag(LABEL_SERVER, &s, &c)?).await?;
    stream.flush().await?;
    Ok(secret.session_key(&s, &c)?)
}

/// Client side of the handshake; the caller bounds it with a deadline.
pub(crate) async fn client_handshake<S>(
    stream: &mut S,
    secret: &ClusterSecret,
) -> Result<SessionKey, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut s = [0u8; NONCE_LEN];
    stream.read_exact(&mut s).await?;
    let c = random_nonce()?;
    let mut hello = Vec::with_capacity(NONCE_LEN + TAG_LEN);
    hello.extend_from_slice(&c);
    hello.extend_from_slice(&secret.tag(LABEL_CLIENT, &s, &c)?);
    stream.write_all(&hello).await?;
    stream.flush().await?;
    let mut proof = [0u8; TAG_LEN];
    stream
        .read_exact(&mut proof)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => HandshakeError::Refused(e),
            _ => HandshakeError::Io(e),
        })?;
    secret.verify(LABEL_SERVER, &s, &c, &proof)?;
    Ok(secret.session_key(&s, &c)?)
}

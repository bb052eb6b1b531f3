//! Entry points for the fuzz targets in `fuzz/` and for property tests (not an API): the frame
//! reader and the message codec, which are otherwise private to the transport.

use super::auth::{SessionKey, keyed};
use super::frame::{DIR_CLIENT, Framed, Role, seal};
use super::message::{Rpc, RpcReply, decode, encode};

/// Decodes a request body exactly as the server does once its frame authenticated.
pub fn decode_rpc(bytes: &[u8]) -> Result<Rpc, String> {
    decode(bytes)
}

/// Decodes a reply body exactly as the client does.
pub fn decode_reply(bytes: &[u8]) -> Result<RpcReply, String> {
    decode(bytes)
}

/// Encodes a request body as the client does.
pub fn encode_rpc(rpc: &Rpc) -> Result<Vec<u8>, String> {
    encode(rpc)
}

/// The wire bytes of client→server frames carrying `payloads` under the per-connection key
/// `key`, numbered from 0 as a real client numbers them.
pub fn seal_client_frames(key: &[u8], payloads: &[&[u8]]) -> Result<Vec<u8>, String> {
    let key = SessionKey(keyed(key).map_err(|e| e.to_string())?);
    let mut wire = Vec::new();
    for (seq, p) in (0u64..).zip(payloads) {
        wire.extend(seal(&key, DIR_CLIENT, seq, p).map_err(|e| e.to_string())?);
    }
    Ok(wire)
}

/// Reads `wire` as the server reads a connection under `key` and returns the payloads that
/// authenticated, in order, up to the first refused frame (after which a server hangs up).
pub fn server_reads(key: &[u8], wire: &[u8]) -> Vec<Vec<u8>> {
    let (Ok(mac), Ok(rt)) = (
        keyed(key),
        tokio::runtime::Builder::new_current_thread().build(),
    ) else {
        return Vec::new();
    };
    let stream = tokio::io::join(wire, tokio::io::sink());
    let mut framed = Framed::new(stream, SessionKey(mac), Role::Server);
    rt.block_on(async {
        let mut out = Vec::new();
        while let Ok(payload) = framed.recv().await {
            out.push(payload);
        }
        out
    })
}

//! The internal transport: bytes on an authenticated connection never yield a frame without
//! the key; message bodies (what a peer holding the key sends) decode without panicking or
//! allocating without bound; sealed frames round-trip.
#![no_main]

use authd_raft::network::fuzzing::{
    decode_reply, decode_rpc, encode_rpc, seal_client_frames, server_reads,
};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-session-key-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    assert!(
        server_reads(KEY, data).is_empty(),
        "a frame authenticated without the key"
    );
    if let Ok(rpc) = decode_rpc(data) {
        let again = encode_rpc(&rpc).and_then(|b| decode_rpc(&b).map(|r| format!("{r:?}")));
        assert_eq!(again, Ok(format!("{rpc:?}")));
    }
    let _ = decode_reply(data);
    if let Ok(wire) = seal_client_frames(KEY, &[data, b""]) {
        assert_eq!(server_reads(KEY, &wire), vec![data.to_vec(), Vec::new()]);
    }
});

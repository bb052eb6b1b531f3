//! Property tests: arbitrary bytes never panic the server and never draw a reply.
//!
//! The connection handler runs inline (not spawned) over an in-memory pipe, so a panic fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::auth::{NONCE_LEN, client_handshake};
use super::fuzzing;
use super::server::serve_conn;
use super::tests::{Dummy, secret};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    })
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..64), vec(any::<u8>(), 0..4096)]
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9))
}

/// Sends `bytes`, closes our write side, returns everything the server wrote after `skip` bytes.
async fn exchange(client: &mut DuplexStream, bytes: &[u8]) -> Vec<u8> {
    // The server may hang up mid-write; that is fine.
    let _ = client.write_all(bytes).await;
    let _ = client.shutdown().await;
    let mut out = Vec::new();
    let _ = client.read_to_end(&mut out).await;
    out
}

#[test]
fn network_fuzz_first_message_gets_no_reply() {
    let rt = runtime();
    runner()
        .run(&garbage(), |bytes| {
            let sent_after_challenge = rt.block_on(async {
                let (mut client, server) = duplex(64 * 1024);
                let serve = serve_conn(server, peer(), secret(), Arc::new(Dummy));
                let talk = async {
                    let mut challenge = [0u8; NONCE_LEN];
                    client.read_exact(&mut challenge).await.unwrap();
                    exchange(&mut client, &bytes).await
                };
                tokio::join!(serve, talk).1
            });
            prop_assert!(sent_after_challenge.is_empty());
            Ok(())
        })
        .unwrap();
}

#[test]
fn network_fuzz_frames_after_handshake_get_no_reply() {
    let rt = runtime();
    runner()
        .run(&garbage(), |bytes| {
            let sent = rt.block_on(async {
                let (mut client, server) = duplex(64 * 1024);
                let serve = serve_conn(server, peer(), secret(), Arc::new(Dummy));
                let talk = async {
                    client_handshake(&mut client, &secret()).await.unwrap();
                    exchange(&mut client, &bytes).await
                };
                tokio::join!(serve, talk).1
            });
            prop_assert!(sent.is_empty());
            Ok(())
        })
        .unwrap();
}

fn rpc() -> impl Strategy<Value = super::Rpc> {
    use openraft::raft::VoteRequest;
    use openraft::{CommittedLeaderId, LogId, Vote};
    prop_oneof![
        (any::<u64>(), any::<u64>())
            .prop_map(|(index, timeout_ms)| super::Rpc::WaitApplied { index, timeout_ms }),
        any::<u64>().prop_map(|node_id| super::Rpc::Lease { node_id }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(t, n, i)| super::Rpc::Vote(
            VoteRequest::new(
                Vote::new(t, n),
                Some(LogId::new(CommittedLeaderId::new(t, n), i))
            )
        )),
    ]
}

const KEY: &[u8] = b"prop-session-key-0123456789abcdef";

/// Regression (fuzz target `raft_frames`): a string whose length prefix says 2^40 bytes, in a
/// forwarded batch or in an error reply, made bincode allocate that much before reading (abort).
#[test]
fn network_fuzz_huge_length_prefix_is_refused_without_allocating() {
    let huge = [0xfd, 0, 0, 0, 0, 0, 1, 0, 0];
    // Rpc::Forward, one command, CreateUser, id None, then the username's length.
    let rpc = [&[0x03, 0x01, 0x00, 0x00][..], &huge].concat();
    assert!(fuzzing::decode_rpc(&rpc).is_err());
    // RpcReply::Error(String).
    let reply = [&[0x06][..], &huge].concat();
    assert!(fuzzing::decode_reply(&reply).is_err());
    // The fuzzer's own find (2^56 bytes asked for).
    let found = [
        0x03, 0x10, 0x00, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xfd, 0x06,
    ];
    assert!(fuzzing::decode_rpc(&found).is_err());
}

proptest! {
    #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

    #[test]
    fn network_fuzz_bodies_decode_without_panic(bytes in garbage()) {
        if let Ok(rpc) = fuzzing::decode_rpc(&bytes) {
            let again = fuzzing::encode_rpc(&rpc).and_then(|b| fuzzing::decode_rpc(&b));
            prop_assert_eq!(format!("{:?}", again.map_err(|_| ())), format!("{:?}", Ok::<_, ()>(rpc)));
        }
        let _ = fuzzing::decode_reply(&bytes);
        prop_assert!(fuzzing::server_reads(KEY, &bytes).is_empty());
    }

    #[test]
    fn network_fuzz_frames_round_trip_and_refuse_a_flipped_bit(r in rpc(), bit in any::<usize>()) {
        let body = fuzzing::encode_rpc(&r).unwrap();
        prop_assert_eq!(format!("{:?}", fuzzing::decode_rpc(&body).unwrap()), format!("{r:?}"));
        let wire = fuzzing::seal_client_frames(KEY, &[&body]).unwrap();
        prop_assert_eq!(fuzzing::server_reads(KEY, &wire), vec![body.clone()]);
        let mut bad = wire.clone();
        let bit = bit % (bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(fuzzing::server_reads(KEY, &bad).is_empty());
        // Another connection's key is refused too.
        prop_assert!(fuzzing::server_reads(b"another-key", &wire).is_empty());
    }
}

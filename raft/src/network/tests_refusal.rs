//! Refusal tests: wrong secrets, garbage, oversized, tampered, replayed and undecodable input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::auth::{NONCE_LEN, SessionKey, client_handshake};
use super::frame::{DIR_CLIENT, DIR_SERVER, seal};
use super::message::encode;
use super::tests::{Dummy, assert_still_serving, secret, start, vote, vote_req};
use super::*;

fn other_secret() -> ClusterSecret {
    ClusterSecret::new(b"some-other-cluster-secret-xyz".to_vec()).unwrap()
}

/// Reads to EOF (or reset) and returns everything the server sent.
async fn drain(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "server did not close the connection");
    out
}

/// Opens a raw connection and completes the real handshake.
async fn raw_session() -> (TcpStream, SessionKey, SocketAddr) {
    let addr = start().await;
    let (stream, key) = raw_session_to(addr).await;
    (stream, key, addr)
}

async fn raw_session_to(addr: SocketAddr) -> (TcpStream, SessionKey) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let key = client_handshake(&mut stream, &secret()).await.unwrap();
    (stream, key)
}

async fn read_raw_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize + 32];
    stream.read_exact(&mut rest).await.unwrap();
    rest
}

#[tokio::test]
async fn network_wrong_secret_is_refused() {
    let addr = start().await;
    let bad = PeerClient::new(addr.to_string(), other_secret());
    match vote(&bad).await {
        Err(TransportError::Auth(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn network_server_with_other_secret_is_refused_by_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, other_secret(), Arc::new(Dummy)));
    let client = PeerClient::new(addr.to_string(), secret());
    assert!(matches!(vote(&client).await, Err(TransportError::Auth(_))));
}

#[tokio::test]
async fn network_random_bytes_are_refused() {
    let addr = start().await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(151) ^ 0x5a) as u8)
        .collect();
    raw.write_all(&garbage).await.unwrap();
    let got = drain(&mut raw).await;
    assert_eq!(got.len(), NONCE_LEN, "only the challenge may be sent");
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn network_silent_peer_is_dropped_after_the_deadline() {
    let addr = start().await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    assert_eq!(drain(&mut raw).await.len(), NONCE_LEN);
}

#[tokio::test]
async fn network_oversized_length_prefix_is_refused() {
    // Before the handshake it is just garbage ...
    let addr = start().await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(&[0xff; 4]).await.unwrap();
    raw.shutdown().await.unwrap();
    assert_eq!(drain(&mut raw).await.len(), NONCE_LEN);
    // ... and after it, refused before any allocation.
    let (mut raw, _key) = raw_session_to(addr).await;
    raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert!(drain(&mut raw).await.is_empty());
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn network_tampered_frame_is_refused() {
    let (mut raw, key, addr) = raw_session().await;
    let frame = seal(
        &key,
        DIR_CLIENT,
        0,
        &encode(&Rpc::Vote(vote_req())).unwrap(),
    )
    .unwrap();
    let mut bad = frame.clone();
    bad[6] ^= 0x01;
    raw.write_all(&bad).await.unwrap();
    assert!(drain(&mut raw).await.is_empty());

    // Wrong direction byte (a server frame reflected back) and wrong sequence number are refused too.
    for (dir, seq) in [(DIR_SERVER, 0), (DIR_CLIENT, 1)] {
        let (mut raw, key) = raw_session_to(addr).await;
        let frame = seal(&key, dir, seq, &encode(&Rpc::Vote(vote_req())).unwrap()).unwrap();
        raw.write_all(&frame).await.unwrap();
        assert!(drain(&mut raw).await.is_empty());
    }
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn network_replayed_frame_is_refused() {
    let (mut raw, key, addr) = raw_session().await;
    let frame = seal(
        &key,
        DIR_CLIENT,
        0,
        &encode(&Rpc::Vote(vote_req())).unwrap(),
    )
    .unwrap();
    raw.write_all(&frame).await.unwrap();
    assert!(!read_raw_frame(&mut raw).await.is_empty());
    // Same connection: the sequence number has moved on.
    raw.write_all(&frame).await.unwrap();
    assert!(drain(&mut raw).await.is_empty());
    // Another connection: another session key.
    let (mut other, _key) = raw_session_to(addr).await;
    other.write_all(&frame).await.unwrap();
    assert!(drain(&mut other).await.is_empty());
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn network_undecodable_payload_is_refused() {
    let (mut raw, key, addr) = raw_session().await;
    raw.write_all(&seal(&key, DIR_CLIENT, 0, &[0xff, 0xff, 0xff]).unwrap())
        .await
        .unwrap();
    assert!(drain(&mut raw).await.is_empty());
    assert_still_serving(addr).await;
}

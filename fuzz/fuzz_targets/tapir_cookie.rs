//! The legacy `tapir_session` cookie: arbitrary text never verifies, a packed cookie unpacks
//! to itself, and any single flipped bit of it is refused.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use authd_legacy::{TapirCookie, encode_ip, first_valid};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-classic-session-hash";

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    assert!(
        TapirCookie::unpack(&text, SECRET).is_err(),
        "forged cookie accepted"
    );
    assert!(first_valid(&[text.into_owned()], SECRET, 0, u64::MAX).is_none());

    let ip = if u64_at(data, 4) % 2 == 0 {
        IpAddr::from(
            u64_at(data, 2).to_le_bytes()[..4]
                .try_into()
                .unwrap_or([0u8; 4]),
        )
    } else {
        IpAddr::V6(Ipv6Addr::from(
            (u128::from(u64_at(data, 2)) << 64) | u128::from(u64_at(data, 3)),
        ))
    };
    let cookie = TapirCookie {
        session_id: u64_at(data, 0),
        user_id: u64_at(data, 1),
        ip: encode_ip(ip),
        issued_at: u64_at(data, 5),
        capabilities: u64_at(data, 6) as u32,
    };
    let packed = cookie.pack(SECRET);
    assert_eq!(TapirCookie::unpack(&packed, SECRET), Ok(cookie));
    let bit = usize::try_from(u64_at(data, 7)).unwrap_or(0);
    let mut bytes = packed.into_bytes();
    let n = bytes.len() * 8;
    if let Some(b) = bytes.get_mut((bit % n) / 8) {
        *b ^= 1 << (bit % 8);
    }
    let flipped = String::from_utf8_lossy(&bytes);
    assert!(
        TapirCookie::unpack(&flipped, SECRET).is_err(),
        "flipped bit accepted"
    );
});

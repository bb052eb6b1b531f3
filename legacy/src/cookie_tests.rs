use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn c(sid: u64, uid: u64, ip: &str, at: u64, caps: u32) -> TapirCookie {
    TapirCookie {
        session_id: sid,
        user_id: uid,
        ip: ip.into(),
        issued_at: at,
        capabilities: caps,
    }
}

#[test]
fn reference_vectors() {
    let a = "424242424:12345:127.0.0.1:1531145500:6:vkRyOh97A5Acyq6MEFUnU9edB10";
    let b = "1:1:10.10.10.10:1531145500:4:6rf8SsXepPtOxnIHQIqzLu+mbDg";
    assert_eq!(
        c(424242424, 12345, "127.0.0.1", 1531145500, 6).pack(b"foohash"),
        a
    );
    assert_eq!(c(1, 1, "10.10.10.10", 1531145500, 4).pack(b"xyz1234"), b);
    assert_eq!(
        TapirCookie::unpack(a, b"foohash"),
        Ok(c(424242424, 12345, "127.0.0.1", 1531145500, 6))
    );
    assert_eq!(
        TapirCookie::unpack(a, b"xyz1234"),
        Err(CookieError::BadHash)
    );
}

#[test]
fn expiry_is_issued_at_plus_duration() {
    let v = c(1, 2, "1.2.3.4", 1000, 0).pack(b"k");
    assert!(TapirCookie::verify(&v, b"k", 1099, 100).is_ok());
    assert_eq!(
        TapirCookie::verify(&v, b"k", 1100, 100),
        Err(CookieError::Expired)
    );
}

#[test]
fn malformed_values_are_refused() {
    let good = c(1, 2, "1.2.3.4", 1000, 6).pack(b"k");
    let hash = good.rsplit_once(':').map(|(_, h)| h).unwrap_or_default();
    for bad in [
        String::new(),
        "a:b:c:d:e:f".into(),
        format!("1:2:1.2.3.4:1000:{hash}"),
        format!("1:2:1.2.3.4:1000:6:7:{hash}"),
        format!("x:2:1.2.3.4:1000:6:{hash}"),
        format!("1:2:1.2.3.4:-1000:6:{hash}"),
        format!("1:2:1.2.3.4:+1000:6:{hash}"),
        format!("1:2:1.2.3.4:99999999999999999999999:6:{hash}"),
        format!("1:2::1000:6:{hash}"),
        format!("1:2:1.2.3.4:1000:6:{hash}x"),
        format!("1:2:1.2.3.4:1000:é:{hash}"),
        "9".repeat(300),
    ] {
        assert_eq!(
            TapirCookie::unpack(&bad, b"k"),
            Err(CookieError::Malformed),
            "{bad:?}"
        );
    }
    let flipped = good.replacen("1:2:", "1:3:", 1);
    assert_eq!(
        TapirCookie::unpack(&flipped, b"k"),
        Err(CookieError::BadHash)
    );
}

#[test]
fn ipv6_is_encoded_so_the_legacy_split_still_works() {
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    assert_eq!(encode_ip(v6), "2001-db8--1");
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    assert_eq!(encode_ip(mapped), "10.0.0.1");
    let v = c(5, 6, &encode_ip(v6), 1000, 4).pack(b"k");
    assert_eq!(v.split(':').count(), 6);
    assert_eq!(
        TapirCookie::unpack(&v, b"k").map(|c| c.ip),
        Ok("2001-db8--1".into())
    );
}

#[test]
fn duplicates_are_tried_in_order() {
    let old = c(1, 2, "1.2.3.4", 10, 0).pack(b"k");
    let forged = c(2, 2, "1.2.3.4", 1000, 0).pack(b"other");
    let good = c(3, 2, "1.2.3.4", 1000, 0).pack(b"k");
    let later = c(4, 2, "1.2.3.4", 1000, 0).pack(b"k");
    let vals = vec![old, forged, "junk".into(), good, later];
    assert_eq!(
        first_valid(&vals, b"k", 1050, 100).map(|c| c.session_id),
        Some(3)
    );
    assert_eq!(
        first_valid(vals.get(..3).unwrap_or_default(), b"k", 1050, 100),
        None
    );
}

proptest! {
    #[test]
    fn round_trip(sid in any::<u64>(), uid in any::<u64>(), at in any::<u64>(), caps in any::<u32>(),
                  ip in any::<u128>()) {
        let ip = encode_ip(IpAddr::V6(Ipv6Addr::from(ip)));
        let cookie = c(sid, uid, &ip, at, caps);
        prop_assert_eq!(TapirCookie::unpack(&cookie.pack(b"secret"), b"secret"), Ok(cookie));
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,300}") {
        let _ = TapirCookie::verify(&s, b"secret", 0, 10);
    }

    #[test]
    fn arbitrary_bytes_never_verify(b in proptest::collection::vec(any::<u8>(), 0..300),
                                    s in "[0-9a-f:.+/-]{0,120}") {
        for v in [String::from_utf8_lossy(&b).into_owned(), s] {
            prop_assert!(TapirCookie::unpack(&v, b"secret").is_err());
        }
    }

    #[test]
    fn a_flipped_bit_is_refused(sid in any::<u64>(), uid in any::<u64>(), at in any::<u64>(),
                                caps in any::<u32>(), ip in any::<u32>(), bit in any::<usize>()) {
        let ip = encode_ip(IpAddr::from(ip.to_be_bytes()));
        let mut b = c(sid, uid, &ip, at, caps).pack(b"secret").into_bytes();
        let bit = bit % (b.len() * 8);
        if let Some(x) = b.get_mut(bit / 8) {
            *x ^= 1 << (bit % 8);
        }
        prop_assert!(TapirCookie::unpack(&String::from_utf8_lossy(&b), b"secret").is_err());
    }
}

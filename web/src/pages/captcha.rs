//! The registration captcha's picture: the letters only a reader of the image can know
//! (the token carries a MAC, not the answer), drawn with noise and waves on every request.

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};

/// PNG of `answer`, freshly distorted; `None` if a letter has no glyph.
pub fn png(answer: &str) -> Option<Vec<u8>> {
    let mut c = Captcha::new();
    for ch in answer.chars() {
        if !c.supported_chars().contains(&ch) {
            return None;
        }
        c.set_chars(&[ch]).add_char();
    }
    c.apply_filter(Noise::new(0.2))
        .apply_filter(Wave::new(2.0, 12.0).horizontal())
        .apply_filter(Wave::new(2.0, 8.0).vertical())
        .view(260, 110)
        .apply_filter(Dots::new(12));
    c.as_png()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn renders_every_letter_of_the_alphabet_as_png() {
        for answer in ["ABCDEF", "GHJKMN", "PQRTUV", "WXY346", "789ABC"] {
            let img = png(answer).unwrap();
            assert_eq!(&img[..8], b"\x89PNG\r\n\x1a\n");
        }
        assert!(
            png("O0").is_none(),
            "look-alikes have no glyph in our alphabet"
        );
    }
}

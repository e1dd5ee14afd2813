//! Byte-level havoc on a finished body: truncation, flipped bits, spliced and inserted bytes,
//! and bodies that are no format at all. Applied to a minority of inputs, after the structure
//! has done its work.

use crate::rng::Gen;

/// Bytes with a meaning in JSON or in forms, and bytes that are never UTF-8.
#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u", b"%", b"&", b"=", b"+", b"\0",
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"%5B", b"%5D", b"\r\n",
];

pub fn havoc(g: &mut Gen, body: &mut Vec<u8>) {
    for _ in 0..g.count(4) {
        let at = g.below(body.len() + 1);
        match g.below(7) {
            0 => body.truncate(at),
            1 if !body.is_empty() => {
                let i = g.below(body.len());
                body[i] ^= 1 << g.below(8);
            }
            2 => {
                let n = g.range(1, 16);
                body.splice(at..at, g.bytes(n));
            }
            3 => {
                let token = *g.pick(TOKENS);
                body.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + g.range(1, 64)).min(body.len());
                body.drain(at..end);
            }
            5 => {
                // A piece of the body again elsewhere: repeated keys, unbalanced brackets.
                let end = (at + g.range(1, 256)).min(body.len());
                let piece = body[at..end].to_vec();
                let to = g.below(body.len() + 1);
                body.splice(to..to, piece);
            }
            _ => {
                let prefixes: [&[u8]; 4] = [b"\xef\xbb\xbf", b" \n\t", b"\0", b"="];
                let prefix = *g.pick(&prefixes);
                body.splice(0..0, prefix.iter().copied());
            }
        }
    }
}

/// A body that is no format: empty, blank, random bytes, or one repeated byte.
pub fn junk(g: &mut Gen) -> Vec<u8> {
    match g.below(5) {
        0 => Vec::new(),
        1 => g
            .pick(&[
                b" " as &[u8],
                b"\n",
                b"null",
                b"[]",
                b"{}",
                b"\"x\"",
                b"=",
                b"&",
                b"0",
            ])
            .to_vec(),
        2 => {
            let n = g.size();
            g.bytes(n)
        }
        3 => vec![*g.pick(&[b'[', b'{', b'&', b'=', b'%', 0]); g.size()],
        _ => {
            let n = g.range(1, 64);
            g.bytes(n)
        }
    }
}

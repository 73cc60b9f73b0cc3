//! WS-Security UsernameToken checks (OASIS UsernameToken Profile 1.0, as the
//! ONVIF Core specification uses it): the PasswordDigest every ONVIF client
//! sends, PasswordText where the glue allows it (over TLS), a bounded clock
//! skew of Created and refusal of a Nonce used again.
//!
//! PasswordDigest = Base64(SHA-1(decoded Nonce + Created as sent + password)).
//! SHA-1 and Base64 come from GLib, which the plugin links anyway.
//!
//! Replay protection without unbounded memory: a digest token is only
//! acceptable while its Created is within `max_skew` of now, so a nonce
//! needs remembering only until its Created + `max_skew`; after that any
//! replay is stale. The memory holds at most `max_nonces` nonces. When it is
//! full, the token with the oldest Created is forgotten and a *floor* rises
//! to that Created: tokens created at or before the floor are refused from
//! then on. Replays stay refused (a forgotten nonce is at or below the
//! floor), and fresh tokens are still accepted, so a burst of polling
//! clients cannot lock everyone out the way "refuse new tokens when full"
//! would (50 clients polling once a second fill 10 000 entries in 200 s).
//! The cost under such load is only that the accepted window shrinks: a
//! client whose Created lags behind the 10 000th most recent accepted token
//! is refused ([`WsseError::ReplayMemoryFull`]). Only tokens whose password
//! checks out are remembered, so no one without credentials can fill it.
//!
//! Nonces are remembered as 64-bit keyed hashes (the key random per
//! verifier, so collisions cannot be aimed): a client picks the nonce length
//! and a request may carry a 1 MiB one. A false "reused" has a chance of
//! about 10 000 / 2^64 per request.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use super::soap::UsernameToken;

/// How far Created may be from our clock, either way (IPyCam's and go2rtc's
/// choice; ONVIF gives no number).
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// Most nonces remembered (about 40 bytes each with the index).
pub const DEFAULT_MAX_NONCES: usize = 10_000;

/// Why a token was refused. The glue answers all of them with
/// `ter:NotAuthorized` and logs the reason; none carries the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsseError {
    /// A field is missing or unreadable (no Username, a digest without
    /// Nonce or Created, Created not a date, Nonce not base64).
    Malformed(&'static str),
    /// PasswordText where the glue allows digests only (plain HTTP).
    TextNotAllowed,
    UnknownUser,
    WrongPassword,
    /// Created is further from our clock than the window allows;
    /// `offset_s` is Created minus now (negative: in the past).
    StaleCreated {
        offset_s: i64,
    },
    /// This Nonce was accepted before, within the window.
    NonceReused,
    /// The nonce memory was full and has forgotten tokens created this early:
    /// the client must send a fresher Created.
    ReplayMemoryFull,
}

impl std::fmt::Display for WsseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsseError::Malformed(why) => write!(f, "malformed UsernameToken: {why}"),
            WsseError::TextNotAllowed => write!(f, "PasswordText is accepted over TLS only"),
            WsseError::UnknownUser => write!(f, "unknown user"),
            WsseError::WrongPassword => write!(f, "wrong password"),
            WsseError::StaleCreated { offset_s } if *offset_s < 0 => {
                write!(f, "Created is {} s in the past", -offset_s)
            }
            WsseError::StaleCreated { offset_s } => {
                write!(f, "Created is {offset_s} s in the future")
            }
            WsseError::NonceReused => write!(f, "Nonce used again"),
            WsseError::ReplayMemoryFull => write!(
                f,
                "Created is older than the tokens the full nonce memory still holds"
            ),
        }
    }
}

impl std::error::Error for WsseError {}

/// Checks UsernameTokens and remembers the nonces of accepted ones.
#[derive(Debug)]
pub struct Verifier {
    max_skew_ms: i64,
    max_nonces: usize,
    /// Nonce key -> Created (Unix ms) of the token that used it.
    seen: HashMap<u64, i64>,
    /// The same entries, oldest Created first, to expire and evict.
    by_created: BinaryHeap<Reverse<(i64, u64)>>,
    /// Tokens created at or before this are refused (see the module text).
    floor_ms: i64,
    hasher: RandomState,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SKEW)
    }
}

impl Verifier {
    /// A verifier accepting Created within `max_skew` of now, either way.
    pub fn new(max_skew: Duration) -> Self {
        Self::with_capacity(max_skew, DEFAULT_MAX_NONCES)
    }

    /// Same, remembering at most `max_nonces` (at least 1) nonces.
    pub fn with_capacity(max_skew: Duration, max_nonces: usize) -> Self {
        Self {
            max_skew_ms: i64::try_from(max_skew.as_millis()).unwrap_or(i64::MAX),
            max_nonces: max_nonces.max(1),
            seen: HashMap::new(),
            by_created: BinaryHeap::new(),
            floor_ms: i64::MIN,
            hasher: RandomState::new(),
        }
    }

    /// How many nonces are remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Checks `token` for the user's password (`password_of` gives it, None
    /// for an unknown user). `allow_text`: PasswordText is accepted (the
    /// request came over TLS). `now_unix_ms`: our UTC clock, the same one
    /// GetSystemDateAndTime reports, so clients that offset Created by it
    /// (agsh, rtsp-backchannel) land inside the window.
    ///
    /// A PasswordText token has no freshness checks: whoever holds it holds
    /// the password, and TLS is what protects it.
    pub fn verify(
        &mut self,
        token: &UsernameToken,
        password_of: impl Fn(&str) -> Option<String>,
        allow_text: bool,
        now_unix_ms: i64,
    ) -> Result<(), WsseError> {
        if token.username.is_empty() {
            return Err(WsseError::Malformed("no Username"));
        }
        if !token.digest {
            if !allow_text {
                return Err(WsseError::TextNotAllowed);
            }
            let stored = password_of(&token.username);
            // Compared as digests so that the time taken tells nothing
            // about the password's length.
            let same = crate::http::digest::constant_time_eq(
                &sha1(&[token.password.as_bytes()]),
                &sha1(&[stored.as_deref().unwrap_or("").as_bytes()]),
            );
            return match stored {
                None => Err(WsseError::UnknownUser),
                Some(_) if same => Ok(()),
                Some(_) => Err(WsseError::WrongPassword),
            };
        }

        let nonce = token
            .nonce
            .as_deref()
            .ok_or(WsseError::Malformed("PasswordDigest without Nonce"))?;
        let created = token
            .created
            .as_deref()
            .ok_or(WsseError::Malformed("PasswordDigest without Created"))?;
        let created_ms =
            parse_created(created).ok_or(WsseError::Malformed("Created is not a date and time"))?;
        let offset_ms = created_ms.saturating_sub(now_unix_ms);
        if offset_ms.saturating_abs() > self.max_skew_ms {
            return Err(WsseError::StaleCreated {
                offset_s: offset_ms / 1000,
            });
        }
        self.expire(now_unix_ms);
        if created_ms <= self.floor_ms {
            return Err(WsseError::ReplayMemoryFull);
        }
        let nonce = decode_base64(nonce).ok_or(WsseError::Malformed("Nonce is not base64"))?;
        if nonce.is_empty() {
            return Err(WsseError::Malformed("empty Nonce"));
        }
        let key = self.hasher.hash_one(&nonce);
        if self.seen.contains_key(&key) {
            return Err(WsseError::NonceReused);
        }

        let stored = password_of(&token.username);
        // An unknown user costs the same digest as a known one, so the time
        // taken does not tell which user names exist.
        let expected = sha1(&[
            &nonce,
            created.as_bytes(),
            stored.as_deref().unwrap_or("").as_bytes(),
        ]);
        let same = decode_base64(&token.password)
            .is_some_and(|sent| crate::http::digest::constant_time_eq(&sent, &expected));
        match stored {
            None => return Err(WsseError::UnknownUser),
            Some(_) if !same => return Err(WsseError::WrongPassword),
            Some(_) => {}
        }
        self.remember(key, created_ms);
        Ok(())
    }

    /// Forgets nonces whose tokens are stale by now anyway.
    fn expire(&mut self, now_unix_ms: i64) {
        while let Some(Reverse((created_ms, key))) = self.by_created.peek().copied() {
            if created_ms.saturating_add(self.max_skew_ms) >= now_unix_ms {
                break;
            }
            self.by_created.pop();
            self.seen.remove(&key);
        }
    }

    /// Remembers an accepted token's nonce; when over capacity, forgets the
    /// oldest one and raises the floor to its Created (which may be this
    /// very token's, if it is the oldest: its replays then meet the floor).
    fn remember(&mut self, key: u64, created_ms: i64) {
        self.seen.insert(key, created_ms);
        self.by_created.push(Reverse((created_ms, key)));
        while self.seen.len() > self.max_nonces {
            let Some(Reverse((oldest_ms, oldest_key))) = self.by_created.pop() else {
                break;
            };
            self.seen.remove(&oldest_key);
            self.floor_ms = self.floor_ms.max(oldest_ms);
        }
    }
}

/// The PasswordDigest a client computes: Base64(SHA-1(nonce + created +
/// password)), `nonce` decoded, `created` exactly as sent.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    glib::base64_encode(&sha1(&[nonce, created.as_bytes(), password.as_bytes()])).to_string()
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    // None only for an invalid checksum type; SHA-1 is always built in.
    let mut checksum =
        glib::Checksum::new(glib::ChecksumType::Sha1).expect("GLib always provides SHA-1");
    for part in parts {
        checksum.update(part);
    }
    checksum.digest()
}

/// Strict base64 (GLib's decoder skips any character it does not know, so
/// the alphabet and padding are checked first). XML whitespace inside is
/// allowed, as xs:base64Binary allows it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .collect();
    if compact.len() % 4 != 0 {
        return None;
    }
    let data = compact.trim_end_matches('=');
    if compact.len() - data.len() > 2
        || !data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    Some(glib::base64_decode(&compact))
}

/// An xs:dateTime as clients write Created, in Unix milliseconds:
/// `2026-12-01T17:00:00Z`, with a fraction of any length (milliseconds from
/// agsh, nanoseconds from go2rtc), with `+00:00` (zeep) or another offset.
/// Without a zone it is taken as UTC (WSS wants UTC; the skew bound
/// catches a client that meant local time). Digits beyond milliseconds are
/// cut, not rounded.
pub fn parse_created(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // The first three digits, padded: ".5" is 500 ms.
        let fraction = &b[start..i];
        for k in 0..3 {
            millis = millis * 10 + fraction.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let (hours, minutes) = match b.len() - i {
                6 if b[i + 3] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                5 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 60 + minutes;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(seconds * 1000 + millis)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days
/// inverse in Howard Hinnant's "chrono-compatible low-level date
/// algorithms"); years here are 0..=9999.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix time of 2026-12-01T17:00:00Z (python: calendar.timegm).
    const T0: i64 = 1_796_144_400_000;

    fn token(user: &str, password: &str, nonce: &str, created: &str) -> UsernameToken {
        UsernameToken {
            username: user.into(),
            password: password.into(),
            digest: true,
            nonce: Some(nonce.into()),
            created: Some(created.into()),
        }
    }

    /// A digest token for `password`, nonce given decoded.
    fn signed(user: &str, password: &str, nonce: &[u8], created: &str) -> UsernameToken {
        let b64 = glib::base64_encode(nonce).to_string();
        token(
            user,
            &password_digest(nonce, created, password),
            &b64,
            created,
        )
    }

    fn users(user: &str) -> Option<String> {
        match user {
            "admin" => Some("userpassword".into()),
            "g2r" => Some("pass wörd".into()),
            "talker" => Some("talkpass".into()),
            _ => None,
        }
    }

    /// Created `offset_s` from T0, in the plain `Z` form.
    fn created_at(offset_s: i64) -> String {
        let t = T0 / 1000 + offset_s;
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        // Only ever near T0 (2026-12-01): the day is 1 + days from then.
        let day = 1 + days - (T0 / 1000).div_euclid(86_400);
        assert!((1..=31).contains(&day));
        format!(
            "2026-12-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    #[test]
    fn digest_matches_the_onvif_programmers_guide_example() {
        // ONVIF Application Programmer's Guide, 6.1.1.3; checked with
        // python hashlib and openssl dgst -sha1.
        let nonce = glib::base64_decode("LKqI6G/AikKCQrN0zqZFlg==");
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
        let t = token(
            "admin",
            "tuOSpGlFlIXsozq4HFNeeGeFLEI=",
            "LKqI6G/AikKCQrN0zqZFlg==",
            "2010-09-16T07:50:45Z",
        );
        let mut v = Verifier::default();
        assert_eq!(v.verify(&t, users, false, 1_284_623_445_000), Ok(()));
    }

    #[test]
    fn digests_of_go2rtc_and_offset_forms_verify() {
        // Vectors from python hashlib: nanoseconds and a non-ASCII password
        // (UTF-8), and an offset with a one-digit fraction.
        let mut v = Verifier::default();
        let g2r = token(
            "g2r",
            "LldA0t1C59mGhHABuYreytgf4LI=",
            "YWJjZGVmZ2hpamtsbW5vcA==",
            "2026-12-01T17:00:00.123456789Z",
        );
        assert_eq!(v.verify(&g2r, users, false, T0 + 1000), Ok(()));
        let offset = token(
            "talker",
            "KhwL7wkrStjlkur9UQ8Dwgt6YGY=",
            "AAECAwQFBgcICQoLDA0ODw==",
            "2026-12-01T19:00:00.5+02:00",
        );
        assert_eq!(v.verify(&offset, users, false, T0), Ok(()));
    }

    #[test]
    fn wrong_password_and_unknown_user_are_told_apart() {
        let mut v = Verifier::default();
        let created = created_at(0);
        let t = signed("admin", "guess", b"nonce-1", &created);
        assert_eq!(
            v.verify(&t, users, false, T0),
            Err(WsseError::WrongPassword)
        );
        let t = signed("nobody", "userpassword", b"nonce-2", &created);
        assert_eq!(v.verify(&t, users, false, T0), Err(WsseError::UnknownUser));
        // A digest that is not base64 is a wrong password, not a crash.
        let mut t = signed("admin", "userpassword", b"nonce-3", &created);
        t.password = "not base64!".into();
        assert_eq!(
            v.verify(&t, users, false, T0),
            Err(WsseError::WrongPassword)
        );
        // Failed tokens are not remembered: the same nonce, signed right,
        // still passes.
        assert_eq!(v.remembered(), 0);
        let t = signed("admin", "userpassword", b"nonce-1", &created);
        assert_eq!(v.verify(&t, users, false, T0), Ok(()));
    }

    #[test]
    fn created_skew_is_bounded_both_ways() {
        let mut v = Verifier::default();
        for (i, (offset_s, ok)) in [
            (-299, true),
            (299, true),
            (-301, false),
            (301, false),
            (-3600, false),
        ]
        .into_iter()
        .enumerate()
        {
            let t = signed(
                "admin",
                "userpassword",
                &[i as u8 + 1],
                &created_at(offset_s),
            );
            let got = v.verify(&t, users, false, T0);
            if ok {
                assert_eq!(got, Ok(()), "{offset_s}");
            } else {
                assert_eq!(got, Err(WsseError::StaleCreated { offset_s }), "{offset_s}");
            }
        }
        // The window is configurable.
        let mut v = Verifier::new(Duration::from_secs(5));
        let t = signed("admin", "userpassword", b"a", &created_at(-6));
        assert_eq!(
            v.verify(&t, users, false, T0),
            Err(WsseError::StaleCreated { offset_s: -6 })
        );
        let t = signed("admin", "userpassword", b"b", &created_at(4));
        assert_eq!(v.verify(&t, users, false, T0), Ok(()));
        assert!(WsseError::StaleCreated { offset_s: -6 }
            .to_string()
            .contains("6 s in the past"));
    }

    #[test]
    fn a_nonce_used_again_is_refused_until_its_token_is_stale() {
        let mut v = Verifier::default();
        let first = signed("admin", "userpassword", b"same nonce", &created_at(0));
        assert_eq!(v.verify(&first, users, false, T0), Ok(()));
        // The very same request replayed, and the nonce with a new Created.
        assert_eq!(
            v.verify(&first, users, false, T0 + 10),
            Err(WsseError::NonceReused)
        );
        let again = signed("admin", "userpassword", b"same nonce", &created_at(60));
        assert_eq!(
            v.verify(&again, users, false, T0 + 60_000),
            Err(WsseError::NonceReused)
        );
        // Another user may not reuse it either.
        let other = signed("talker", "talkpass", b"same nonce", &created_at(0));
        assert_eq!(
            v.verify(&other, users, false, T0),
            Err(WsseError::NonceReused)
        );
        // Once the first token is stale it is forgotten: its replay is
        // refused as stale, and memory does not grow.
        let later = T0 + 301_000;
        assert_eq!(
            v.verify(&first, users, false, later),
            Err(WsseError::StaleCreated { offset_s: -301 })
        );
        let fresh = signed("admin", "userpassword", b"same nonce", &created_at(301));
        assert_eq!(v.verify(&fresh, users, false, later), Ok(()));
        assert_eq!(v.remembered(), 1);
    }

    #[test]
    fn full_memory_forgets_the_oldest_and_refuses_what_it_forgot() {
        let mut v = Verifier::with_capacity(DEFAULT_MAX_SKEW, 3);
        let tokens: Vec<UsernameToken> = (0..5)
            .map(|i| signed("admin", "userpassword", &[i], &created_at(i64::from(i))))
            .collect();
        for t in &tokens[..3] {
            assert_eq!(v.verify(t, users, false, T0 + 5000), Ok(()));
        }
        assert_eq!(v.remembered(), 3);
        // A fourth fresh token is accepted; the oldest (created T0) is
        // forgotten and its replay refused by the floor, not accepted.
        assert_eq!(v.verify(&tokens[3], users, false, T0 + 5000), Ok(()));
        assert_eq!(v.remembered(), 3);
        assert_eq!(
            v.verify(&tokens[0], users, false, T0 + 5000),
            Err(WsseError::ReplayMemoryFull)
        );
        // New tokens as old as the floor are refused too; the others
        // still count as reused.
        let as_old = signed("admin", "userpassword", b"new", &created_at(0));
        assert_eq!(
            v.verify(&as_old, users, false, T0 + 5000),
            Err(WsseError::ReplayMemoryFull)
        );
        assert_eq!(
            v.verify(&tokens[1], users, false, T0 + 5000),
            Err(WsseError::NonceReused)
        );
        // A token older than all remembered ones is accepted once (it was
        // above the floor), is itself the one forgotten, and its replay
        // meets the raised floor.
        let mut v = Verifier::with_capacity(DEFAULT_MAX_SKEW, 2);
        for t in &tokens[2..4] {
            assert_eq!(v.verify(t, users, false, T0 + 5000), Ok(()));
        }
        assert_eq!(v.verify(&tokens[1], users, false, T0 + 5000), Ok(()));
        assert_eq!(
            v.verify(&tokens[1], users, false, T0 + 5000),
            Err(WsseError::ReplayMemoryFull)
        );
        assert_eq!(v.verify(&tokens[4], users, false, T0 + 5000), Ok(()));
    }

    #[test]
    fn memory_stays_bounded_under_many_clients() {
        // 50 clients a second for 20 minutes against the default memory:
        // every fresh token is accepted, memory never passes the cap.
        let mut v = Verifier::default();
        for second in 0..1200i64 {
            for client in 0..50u32 {
                let nonce = [second.to_be_bytes().as_slice(), &client.to_be_bytes()].concat();
                let created = created_at(second);
                let t = signed("admin", "userpassword", &nonce, &created);
                assert_eq!(v.verify(&t, users, false, T0 + second * 1000), Ok(()));
            }
            assert!(v.remembered() <= DEFAULT_MAX_NONCES);
        }
        assert_eq!(v.remembered(), DEFAULT_MAX_NONCES);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let mut v = Verifier::default();
        let good = signed("admin", "userpassword", b"n", &created_at(0));
        let cases: Vec<(UsernameToken, &str)> = vec![
            (
                UsernameToken {
                    username: String::new(),
                    ..good.clone()
                },
                "Username",
            ),
            (
                UsernameToken {
                    nonce: None,
                    ..good.clone()
                },
                "Nonce",
            ),
            (
                UsernameToken {
                    created: None,
                    ..good.clone()
                },
                "Created",
            ),
            (
                UsernameToken {
                    created: Some("yesterday".into()),
                    ..good.clone()
                },
                "date",
            ),
            (
                UsernameToken {
                    nonce: Some("***".into()),
                    ..good.clone()
                },
                "base64",
            ),
            (
                UsernameToken {
                    nonce: Some("QQ===".into()),
                    ..good.clone()
                },
                "base64",
            ),
            (
                UsernameToken {
                    nonce: Some(String::new()),
                    ..good.clone()
                },
                "empty",
            ),
        ];
        for (t, why) in cases {
            match v.verify(&t, users, false, T0) {
                Err(WsseError::Malformed(text)) => assert!(text.contains(why), "{text} / {why}"),
                other => panic!("{t:?}: {other:?}"),
            }
        }
        assert_eq!(v.verify(&good, users, false, T0), Ok(()));
    }

    #[test]
    fn password_text_only_where_allowed() {
        let mut v = Verifier::default();
        let text = |password: &str| UsernameToken {
            username: "admin".into(),
            password: password.into(),
            digest: false,
            nonce: None,
            created: None,
        };
        assert_eq!(
            v.verify(&text("userpassword"), users, false, T0),
            Err(WsseError::TextNotAllowed)
        );
        assert_eq!(v.verify(&text("userpassword"), users, true, T0), Ok(()));
        assert_eq!(
            v.verify(&text("userpasswor"), users, true, T0),
            Err(WsseError::WrongPassword)
        );
        assert_eq!(
            v.verify(&text(""), users, true, T0),
            Err(WsseError::WrongPassword)
        );
        let nobody = UsernameToken {
            username: "x".into(),
            ..text("userpassword")
        };
        assert_eq!(
            v.verify(&nobody, users, true, T0),
            Err(WsseError::UnknownUser)
        );
    }

    #[test]
    fn errors_never_show_the_password() {
        let mut v = Verifier::default();
        let t = signed("admin", "hunter2", b"n", &created_at(0));
        let e = v.verify(&t, users, false, T0).unwrap_err();
        for text in [e.to_string(), format!("{e:?}"), format!("{t:?}")] {
            assert!(
                !text.contains("hunter2") && !text.contains("userpassword"),
                "{text}"
            );
        }
    }

    #[test]
    fn created_forms_clients_send_are_read() {
        let s = T0;
        for (text, want) in [
            ("2026-12-01T17:00:00Z", s),
            ("2026-12-01T17:00:00.123Z", s + 123),
            ("2026-12-01T17:00:00.123456789Z", s + 123),
            ("2026-12-01T17:00:00.5Z", s + 500),
            ("2026-12-01T17:00:00+00:00", s),
            ("2026-12-01T17:00:00.999999+00:00", s + 999),
            ("2026-12-01T19:30:00+02:30", s),
            ("2026-12-01T12:00:00-05:00", s),
            ("2026-12-01T12:00:00-0500", s),
            ("2026-12-01T17:00:00", s),
            ("2026-12-01t17:00:00z", s),
            ("2026-12-02T01:00:00+08:00", s),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T00:00:00Z", 951_782_400_000),
            ("2100-03-01T00:00:00Z", 4_107_542_400_000),
            ("2010-09-16T07:50:45Z", 1_284_623_445_000),
        ] {
            assert_eq!(parse_created(text), Some(want), "{text}");
        }
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01 17:00:00Z",
            "2026-13-01T17:00:00Z",
            "2026-02-29T17:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-12-00T17:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T17:60:00Z",
            "2026-12-01T17:00:00.Z",
            "2026-12-01T17:00:00ZZ",
            "2026-12-01T17:00:00+24:00",
            "2026-12-01T17:00:00+02",
            "2026-12-01T17:00:00 +02:00",
            "+2026-12-01T17:00:00Z",
            "2026-12-01T17:00:00Z\u{e9}",
            "２０２６-12-01T17:00:00Z",
            "-026-12-01T17:00:00Z",
        ] {
            assert_eq!(parse_created(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("QUJD"), Some(b"ABC".to_vec()));
        assert_eq!(decode_base64("QUI="), Some(b"AB".to_vec()));
        assert_eq!(decode_base64("QQ=="), Some(b"A".to_vec()));
        assert_eq!(decode_base64("QU JD\n"), Some(b"ABC".to_vec()));
        for bad in ["QUJ", "QU=D", "Q===", "QUJD!", "QUJ-"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }
}

//! The back channel's own rules for the `Transport` header of its SETUP.
//!
//! There is no Transport grammar here: a second one disagreed with
//! gst-rtsp-server's (it refused `client_port=51066-50191`, which
//! gst-rtsp-server serves). gst-rtsp-server reads Transport like this
//! (rtsp-client.c, `parse_transport`): it takes the request's first Transport
//! header, cuts it at every comma, and uses the first piece that
//! `gst_rtsp_transport_parse` reads and the stream supports
//! (`gst_rtsp_stream_is_transport_supported`). GstRTSPConnection has already
//! cut a header line at each comma outside double quotes into headers of its
//! own, so that first header is the client's first transport spec, plus
//! whatever followed a quoted comma. The factory repeats that choice with
//! [`choose`], plugging in the same parser and the same stream check, so the
//! spec judged here is the one gst-rtsp-server then serves. [`check`] refuses
//! only what cannot carry a talker's audio; every other rule (port order,
//! channel numbers, profile, mode) is gst-rtsp-server's.
//!
//! Plain Rust, no GStreamer types: the factory describes the chosen spec by
//! its [`Lower`] transport.

use std::fmt;

/// The pieces of a Transport value, cut as rtsp-client.c cuts it: at every
/// comma, quoted or not (`g_strsplit`), each without the ASCII blanks around
/// it (`g_strstrip`; GStreamer 1.22 does both).
pub fn specs(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|piece| piece.trim_matches(is_glib_space))
}

/// `g_ascii_isspace`: space, tab, newline, vertical tab, form feed, carriage
/// return (`char::is_ascii_whitespace` leaves out the vertical tab).
fn is_glib_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// The spec gst-rtsp-server uses for a Transport `value`: the first piece of
/// [`specs`] that `parse` reads and `supported` accepts.
pub fn choose<T>(
    value: &str,
    mut parse: impl FnMut(&str) -> Option<T>,
    mut supported: impl FnMut(&T) -> bool,
) -> Option<T> {
    specs(value).filter_map(&mut parse).find(|t| supported(t))
}

/// The lower transport of a spec, as `gst_rtsp_transport_parse` reads it:
/// `RTP/AVP` alone is UDP multicast unless the spec says `unicast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    Udp,
    UdpMulticast,
    Tcp,
    /// Anything else (HTTP, TLS flags): left to gst-rtsp-server.
    Other,
}

/// Why the back channel refuses a SETUP with 461 Unsupported Transport. The
/// Display text goes into the log line about the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No piece of the header parses, or none is one the stream supports.
    /// gst-rtsp-server would not refuse every such header itself: when the
    /// last piece does not parse, its `parse_transport` returns the parser's
    /// error code as TRUE and it goes on with a default transport, UDP
    /// multicast, which it serves when the factory has an address pool
    /// (`tests/signalling.rs`).
    NoUsableSpec,
    /// Multicast: the server would listen on a group that anyone may send
    /// to, not on a port of the talker's own.
    Multicast,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NoUsableSpec => "no transport spec that parses and that the stream supports",
            Refusal::Multicast => "multicast cannot carry the audio back channel; use unicast",
        })
    }
}

impl std::error::Error for Refusal {}

/// Whether the lower transport of the spec gst-rtsp-server chose (`None`:
/// it found none) can carry the back channel.
///
/// Unicast UDP is fine with any `client_port`, or none, as gst-rtsp-server
/// has it: the talker's packets come to the server's port whatever it says,
/// and on a back channel the client's ports get RTCP at most. A talker
/// without `client_port` is heard and keeps its session alive with RTP
/// alone, as one with it (tried with 1.22).
pub fn check(chosen: Option<Lower>) -> Result<(), Refusal> {
    match chosen.ok_or(Refusal::NoUsableSpec)? {
        Lower::UdpMulticast => Err(Refusal::Multicast),
        Lower::Udp | Lower::Tcp | Lower::Other => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(value: &str) -> Vec<&str> {
        specs(value).collect()
    }

    #[test]
    fn pieces_are_cut_at_every_comma_and_stripped() {
        assert_eq!(
            pieces("RTP/AVP;unicast;client_port=51066-50191"),
            ["RTP/AVP;unicast;client_port=51066-50191"]
        );
        // Quotes protect nothing: g_strsplit cuts inside them too.
        assert_eq!(
            pieces("RTP/AVP;unicast;client_port=5000-5001;mode=\"PLAY,RECORD\""),
            [
                "RTP/AVP;unicast;client_port=5000-5001;mode=\"PLAY",
                "RECORD\""
            ]
        );
        assert_eq!(
            pieces(" a ,\tb\x0b,\r\n, "),
            ["a", "b", "", ""],
            "blanks around pieces go, empty pieces stay"
        );
        assert_eq!(pieces(""), [""]);
        // Blanks inside a piece are the parser's to judge.
        assert_eq!(
            pieces("RTP/AVP ; unicast ; client_port = 1"),
            ["RTP/AVP ; unicast ; client_port = 1"]
        );
        // Only ASCII blanks, as g_strstrip.
        assert_eq!(pieces("\u{a0}x\u{a0}"), ["\u{a0}x\u{a0}"]);
    }

    /// A stand-in for gst_rtsp_transport_parse: reads the lower transport.
    fn toy_parse(spec: &str) -> Option<Lower> {
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("rtp/avp/tcp") {
            Some(Lower::Tcp)
        } else if lower.starts_with("rtp/avp") {
            Some(if lower.contains(";unicast") {
                Lower::Udp
            } else {
                Lower::UdpMulticast
            })
        } else {
            None
        }
    }

    #[test]
    fn the_first_parsed_and_supported_piece_is_chosen() {
        let any = |_: &Lower| true;
        assert_eq!(
            choose("RTP/AVP/TCP;interleaved=0-1", toy_parse, any),
            Some(Lower::Tcp)
        );
        // Pieces that do not parse are skipped, in order.
        assert_eq!(
            choose("garbage,RTP/AVP;unicast,RTP/AVP/TCP", toy_parse, any),
            Some(Lower::Udp)
        );
        // So are pieces the stream does not support.
        let no_multicast = |l: &Lower| *l != Lower::UdpMulticast;
        assert_eq!(
            choose("RTP/AVP;multicast,RTP/AVP/TCP", toy_parse, no_multicast),
            Some(Lower::Tcp)
        );
        assert_eq!(choose("RTP/AVP", toy_parse, no_multicast), None);
        assert_eq!(choose(";;;===,,", toy_parse, any), None);
        // A piece that follows a quoted comma counts like any other.
        assert_eq!(
            choose("x;mode=\"a, RTP/AVP/TCP\"", toy_parse, any),
            Some(Lower::Tcp)
        );
        // Every piece is parsed at most once, and none after the choice.
        let mut parsed = Vec::new();
        let chosen = choose(
            "a,RTP/AVP/TCP,RTP/AVP;unicast",
            |s: &str| {
                parsed.push(s.to_owned());
                toy_parse(s)
            },
            any,
        );
        assert_eq!(chosen, Some(Lower::Tcp));
        assert_eq!(parsed, ["a", "RTP/AVP/TCP"]);
    }

    #[test]
    fn only_what_cannot_carry_the_back_channel_is_refused() {
        assert_eq!(check(Some(Lower::Tcp)), Ok(()));
        assert_eq!(check(Some(Lower::Udp)), Ok(()));
        assert_eq!(check(Some(Lower::Other)), Ok(()));
        assert_eq!(check(Some(Lower::UdpMulticast)), Err(Refusal::Multicast));
        assert_eq!(check(None), Err(Refusal::NoUsableSpec));
    }

    #[test]
    fn refusals_say_why() {
        for r in [Refusal::NoUsableSpec, Refusal::Multicast] {
            let text = r.to_string();
            assert!(!text.is_empty() && text.len() < 80, "{text}");
        }
        assert!(Refusal::Multicast.to_string().contains("multicast"));
    }
}

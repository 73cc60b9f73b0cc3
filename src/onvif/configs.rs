//! The `tt:` elements of the one media profile, shared by Media (ver10),
//! Media2 (ver20) and DeviceIO: sources, encoders, the audio output and the
//! audio decoder, and the decoder options that follow the back channel's
//! codecs. Element order and required children follow onvif.xsd.
//!
//! Each writer takes the element name, since the same type is written as
//! `tt:VideoSourceConfiguration` in a Media1 profile, `trt:Configurations`
//! in a list and `tr2:VideoSource` in a Media2 profile.

use super::model::{tokens, AudioStream, CallContext, DeviceModel, VideoStream};
use super::xml_out::XmlOut;
use crate::codecs::BackchannelCodec;

/// How many profiles use each configuration: the one profile.
const USE_COUNT: u32 = 1;

/// gst-rtsp-server's default session timeout (60 s).
const SESSION_TIMEOUT: &str = "PT60S";

/// The output level we advertise (a range of 0..=100, no real mixer).
const OUTPUT_LEVEL: u32 = 100;

fn entity(w: &mut XmlOut, name: &str, token: &str, label: &str, body: impl FnOnce(&mut XmlOut)) {
    w.el_attrs(name, &[("token", token)], |w| {
        w.text_el("tt:Name", label);
        w.text_el("tt:UseCount", USE_COUNT);
        body(w);
    });
}

/// Frames per second as an integer (unknown: 30, what the default
/// pipeline sends).
pub fn frame_rate(v: &VideoStream) -> u32 {
    if v.framerate > 0.0 && v.framerate.is_finite() {
        (v.framerate.round() as u32).max(1)
    } else {
        30
    }
}

/// The encoder's bit rate, or an estimate of 0.1 bit per pixel (about what
/// x264enc gives a test pattern), at least 64 kbit/s.
pub fn video_bitrate_kbps(v: &VideoStream) -> u32 {
    v.bitrate_kbps.unwrap_or_else(|| {
        let bits = u64::from(v.width) * u64::from(v.height) * u64::from(frame_rate(v)) / 10;
        (bits / 1000).clamp(64, u64::from(u32::MAX)) as u32
    })
}

/// Frames between key frames (unknown: two seconds of frames).
fn gov_length(v: &VideoStream) -> u32 {
    v.gov_length.unwrap_or(2 * frame_rate(v))
}

/// The H.264 profile as ONVIF names it (tt:H264Profile), from the caps name.
fn h264_profile(v: &VideoStream) -> &'static str {
    let p = v.profile.as_deref().unwrap_or("").to_ascii_lowercase();
    if p.contains("baseline") {
        "Baseline"
    } else if p.starts_with("high") {
        "High"
    } else if p == "extended" {
        "Extended"
    } else {
        "Main"
    }
}

/// The Media1 name of the video encoding (tt:VideoEncoding knows JPEG,
/// MPEG4 and H264 only); `None` for the others (H.265, VP8...), which a
/// Media1 profile then lists without a video encoder.
pub fn media1_video_encoding(v: &VideoStream) -> Option<&'static str> {
    match v.encoding.to_ascii_uppercase().as_str() {
        "H264" => Some("H264"),
        "JPEG" => Some("JPEG"),
        "MPEG4" | "MPV4-ES" | "MP4V-ES" => Some("MPEG4"),
        _ => None,
    }
}

/// The Media2 name (tt:VideoEncodingMimeNames; others as they are).
pub fn media2_video_encoding(v: &VideoStream) -> String {
    match v.encoding.to_ascii_uppercase().as_str() {
        "MPEG4" | "MPV4-ES" | "MP4V-ES" => "MPV4-ES".into(),
        "H264" | "H265" | "JPEG" => v.encoding.to_ascii_uppercase(),
        _ => v.encoding.clone(),
    }
}

/// The Media1 name of the audio encoding (tt:AudioEncoding: G711, G726,
/// AAC); `None` for the others (opus, G722, L16).
pub fn media1_audio_encoding(a: &AudioStream) -> Option<&'static str> {
    match a.encoding.to_ascii_uppercase().as_str() {
        "PCMU" | "PCMA" | "G711" => Some("G711"),
        "G726" => Some("G726"),
        "MP4A-LATM" | "MPEG4-GENERIC" | "AAC" => Some("AAC"),
        _ => None,
    }
}

/// The forward audio's bit rate in kbit/s.
fn audio_bitrate_kbps(a: &AudioStream) -> u32 {
    a.bitrate_kbps
        .unwrap_or(match a.encoding.to_ascii_uppercase().as_str() {
            "PCMU" | "PCMA" | "G722" => 64,
            "L16" => a.sample_rate * 16 / 1000,
            "G726" => 32,
            _ => 64,
        })
}

/// Sample rate in kHz as ONVIF writes it (an integer: 44100 Hz is 44).
fn khz(hz: u32) -> u32 {
    hz / 1000
}

fn resolution(w: &mut XmlOut, name: &str, v: &VideoStream) {
    w.el(name, |w| {
        w.text_el("tt:Width", v.width);
        w.text_el("tt:Height", v.height);
    });
}

fn multicast(w: &mut XmlOut) {
    // Required in Media1 encoder configurations; we stream unicast only.
    w.el("tt:Multicast", |w| {
        w.el("tt:Address", |w| {
            w.text_el("tt:Type", "IPv4");
            w.text_el("tt:IPv4Address", "0.0.0.0");
        });
        w.text_el("tt:Port", 0);
        w.text_el("tt:TTL", 1);
        w.text_el("tt:AutoStart", "false");
    });
}

/// tt:VideoSource (GetVideoSources).
pub fn video_source(w: &mut XmlOut, name: &str, v: &VideoStream) {
    w.el_attrs(name, &[("token", tokens::VIDEO_SOURCE)], |w| {
        w.text_el("tt:Framerate", frame_rate(v));
        resolution(w, "tt:Resolution", v);
    });
}

/// tt:VideoSourceConfiguration; its SourceToken is the video source's
/// token (Scrypted looks the source up by it).
pub fn video_source_config(w: &mut XmlOut, name: &str, v: &VideoStream) {
    entity(
        w,
        name,
        tokens::VIDEO_SOURCE_CONFIG,
        "VideoSourceConfig",
        |w| {
            w.text_el("tt:SourceToken", tokens::VIDEO_SOURCE);
            let (width, height) = (v.width.to_string(), v.height.to_string());
            w.empty(
                "tt:Bounds",
                &[
                    ("x", "0"),
                    ("y", "0"),
                    ("width", &width),
                    ("height", &height),
                ],
            );
        },
    );
}

/// tt:VideoEncoderConfiguration (Media1); the caller checks
/// `media1_video_encoding` first.
pub fn video_encoder_config_media1(w: &mut XmlOut, name: &str, v: &VideoStream) {
    let Some(encoding) = media1_video_encoding(v) else {
        return;
    };
    entity(
        w,
        name,
        tokens::VIDEO_ENCODER_CONFIG,
        "VideoEncoderConfig",
        |w| {
            w.text_el("tt:Encoding", encoding);
            resolution(w, "tt:Resolution", v);
            w.text_el("tt:Quality", 5);
            w.el("tt:RateControl", |w| {
                w.text_el("tt:FrameRateLimit", frame_rate(v));
                w.text_el("tt:EncodingInterval", 1);
                w.text_el("tt:BitrateLimit", video_bitrate_kbps(v));
            });
            if encoding == "H264" {
                w.el("tt:H264", |w| {
                    w.text_el("tt:GovLength", gov_length(v));
                    w.text_el("tt:H264Profile", h264_profile(v));
                });
            }
            multicast(w);
            w.text_el("tt:SessionTimeout", SESSION_TIMEOUT);
        },
    );
}

/// tt:VideoEncoder2Configuration (Media2).
pub fn video_encoder_config_media2(w: &mut XmlOut, name: &str, v: &VideoStream) {
    let gov = gov_length(v).to_string();
    let encoding = media2_video_encoding(v);
    let mut attrs = vec![("token", tokens::VIDEO_ENCODER_CONFIG), ("GovLength", &gov)];
    if encoding == "H264" {
        attrs.push(("Profile", h264_profile(v)));
    }
    w.el_attrs(name, &attrs, |w| {
        w.text_el("tt:Name", "VideoEncoderConfig");
        w.text_el("tt:UseCount", USE_COUNT);
        w.text_el("tt:Encoding", &encoding);
        resolution(w, "tt:Resolution", v);
        w.el_attrs("tt:RateControl", &[("ConstantBitRate", "false")], |w| {
            w.text_el("tt:FrameRateLimit", frame_rate(v));
            w.text_el("tt:BitrateLimit", video_bitrate_kbps(v));
        });
        w.text_el("tt:Quality", 5);
    });
}

/// tt:AudioSource (GetAudioSources).
pub fn audio_source(w: &mut XmlOut, name: &str) {
    w.el_attrs(name, &[("token", tokens::AUDIO_SOURCE)], |w| {
        w.text_el("tt:Channels", 1);
    });
}

/// tt:AudioSourceConfiguration.
pub fn audio_source_config(w: &mut XmlOut, name: &str) {
    entity(
        w,
        name,
        tokens::AUDIO_SOURCE_CONFIG,
        "AudioSourceConfig",
        |w| {
            w.text_el("tt:SourceToken", tokens::AUDIO_SOURCE);
        },
    );
}

/// tt:AudioEncoderConfiguration (Media1); the caller checks
/// `media1_audio_encoding` first.
pub fn audio_encoder_config_media1(w: &mut XmlOut, name: &str, a: &AudioStream) {
    let Some(encoding) = media1_audio_encoding(a) else {
        return;
    };
    entity(
        w,
        name,
        tokens::AUDIO_ENCODER_CONFIG,
        "AudioEncoderConfig",
        |w| {
            w.text_el("tt:Encoding", encoding);
            w.text_el("tt:Bitrate", audio_bitrate_kbps(a));
            w.text_el("tt:SampleRate", khz(a.sample_rate));
            multicast(w);
            w.text_el("tt:SessionTimeout", SESSION_TIMEOUT);
        },
    );
}

/// tt:AudioEncoder2Configuration (Media2).
pub fn audio_encoder_config_media2(w: &mut XmlOut, name: &str, a: &AudioStream) {
    entity(
        w,
        name,
        tokens::AUDIO_ENCODER_CONFIG,
        "AudioEncoderConfig",
        |w| {
            w.text_el("tt:Encoding", &a.encoding);
            w.text_el("tt:Bitrate", audio_bitrate_kbps(a));
            w.text_el("tt:SampleRate", khz(a.sample_rate));
        },
    );
}

/// tt:AudioOutput (Media1 GetAudioOutputs).
pub fn audio_output(w: &mut XmlOut, name: &str) {
    w.empty(name, &[("token", tokens::AUDIO_OUTPUT)]);
}

/// tt:AudioOutputConfiguration. No SendPrimacy: the back channel is full
/// duplex (SendPrimacy is for half duplex, Streaming spec).
pub fn audio_output_config(w: &mut XmlOut, name: &str) {
    entity(
        w,
        name,
        tokens::AUDIO_OUTPUT_CONFIG,
        "AudioOutputConfig",
        |w| {
            w.text_el("tt:OutputToken", tokens::AUDIO_OUTPUT);
            w.text_el("tt:OutputLevel", OUTPUT_LEVEL);
        },
    );
}

/// tt:AudioOutputConfigurationOptions: our one output, no SendPrimacy
/// options (full duplex), levels 0..100.
pub fn audio_output_options(w: &mut XmlOut, name: &str) {
    w.el(name, |w| {
        w.text_el("tt:OutputTokensAvailable", tokens::AUDIO_OUTPUT);
        w.el("tt:OutputLevelRange", |w| {
            w.text_el("tt:Min", 0);
            w.text_el("tt:Max", 100);
        });
    });
}

/// tt:AudioDecoderConfiguration.
pub fn audio_decoder_config(w: &mut XmlOut, name: &str) {
    entity(
        w,
        name,
        tokens::AUDIO_DECODER_CONFIG,
        "AudioDecoderConfig",
        |_| {},
    );
}

// ---- decoder options from the back channel codecs ----

/// Bit rates (kbit/s) we list for AAC: the decoder takes any; these are
/// the usual speech-to-music steps.
const AAC_BITRATES: &[u32] = &[32, 64, 128];

/// Bit rates (kbit/s) we list for Opus (RFC 7587 lets the sender pick).
const OPUS_BITRATES: &[u32] = &[16, 24, 32, 64];

/// One encoding's decoder options: IANA name, bit rates (kbit/s) and
/// sample rates (kHz), each without repeats, in codec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderOption {
    /// Media2 / IANA subtype: PCMU, PCMA, G722, G726, mpeg4-generic, opus, L16.
    pub encoding: &'static str,
    pub bitrates: Vec<u32>,
    pub sample_rates: Vec<u32>,
}

/// The decoder options of a codec list, one per encoding, in the order of
/// the encodings' first codecs (the SDP's order).
pub fn decoder_options(codecs: &[&BackchannelCodec]) -> Vec<DecoderOption> {
    let mut out: Vec<DecoderOption> = vec![];
    for c in codecs {
        let (encoding, bitrates, rate): (&'static str, Vec<u32>, u32) = match c.encoding_name {
            "PCMU" => ("PCMU", vec![64], 8),
            "PCMA" => ("PCMA", vec![64], 8),
            // G.722 samples at 16 kHz under its 8000 RTP clock (RFC 3551).
            "G722" => ("G722", vec![64], 16),
            "OPUS" => ("opus", OPUS_BITRATES.to_vec(), khz(c.clock_rate)),
            "MPEG4-GENERIC" => ("mpeg4-generic", AAC_BITRATES.to_vec(), khz(c.clock_rate)),
            "L16" => (
                "L16",
                vec![c.clock_rate * 16 * c.channels.unwrap_or(1) / 1000],
                khz(c.clock_rate),
            ),
            name if name.starts_with("G726-") => match name[5..].parse() {
                Ok(kbps) => ("G726", vec![kbps], 8),
                Err(_) => continue,
            },
            _ => continue,
        };
        let option = match out.iter_mut().find(|o| o.encoding == encoding) {
            Some(o) => o,
            None => {
                out.push(DecoderOption {
                    encoding,
                    bitrates: vec![],
                    sample_rates: vec![],
                });
                out.last_mut().unwrap()
            }
        };
        for b in bitrates {
            if !option.bitrates.contains(&b) {
                option.bitrates.push(b);
            }
        }
        if !option.sample_rates.contains(&rate) {
            option.sample_rates.push(rate);
        }
    }
    out
}

fn items(w: &mut XmlOut, name: &str, values: &[u32]) {
    w.el(name, |w| {
        for v in values {
            w.text_el("tt:Items", v);
        }
    });
}

/// The children of a Media1 tt:AudioDecoderConfigurationOptions:
/// AACDecOptions, G711DecOptions, G726DecOptions in schema order, for the
/// codecs present (Media1 has no slot for G.722, Opus or L16). Each
/// element declares `xmlns:tt` when `declare_ns` (a free-standing
/// fragment).
pub fn write_decoder_options_media1(
    w: &mut XmlOut,
    codecs: &[&BackchannelCodec],
    declare_ns: bool,
) {
    let options = decoder_options(codecs);
    let find = |e: &str| options.iter().find(|o| o.encoding == e);
    let attrs: &[(&str, &str)] = if declare_ns {
        &[("xmlns:tt", super::soap::ns::SCHEMA)]
    } else {
        &[]
    };
    let mut write = |name: &str, bitrates: &[u32], rates: &[u32]| {
        w.el_attrs(name, attrs, |w| {
            items(w, "tt:Bitrate", bitrates);
            items(w, "tt:SampleRateRange", rates);
        });
    };
    if let Some(aac) = find("mpeg4-generic") {
        write("tt:AACDecOptions", &aac.bitrates, &aac.sample_rates);
    }
    if find("PCMU").is_some() || find("PCMA").is_some() {
        write("tt:G711DecOptions", &[64], &[8]);
    }
    if let Some(g726) = find("G726") {
        write("tt:G726DecOptions", &g726.bitrates, &g726.sample_rates);
    }
}

/// Media2 GetAudioDecoderConfigurationOptions items: one `name` element
/// (tt:AudioEncoder2ConfigurationOptions) per encoding, Encoding,
/// BitrateList, SampleRateList. `name`'s prefix must be declared by the
/// caller or in `declare`.
pub fn write_decoder_options_media2(
    w: &mut XmlOut,
    name: &str,
    codecs: &[&BackchannelCodec],
    declare: &[(&str, &str)],
) {
    for o in decoder_options(codecs) {
        w.el_attrs(name, declare, |w| {
            w.text_el("tt:Encoding", o.encoding);
            items(w, "tt:BitrateList", &o.bitrates);
            items(w, "tt:SampleRateList", &o.sample_rates);
        });
    }
}

/// The configurations of the profile, in Media2's ConfigurationSet order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VideoSource,
    AudioSource,
    VideoEncoder,
    AudioEncoder,
    AudioOutput,
    AudioDecoder,
}

/// Which service's types to write (the encoders differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    V10,
    V20,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::VideoSource,
        Kind::AudioSource,
        Kind::VideoEncoder,
        Kind::AudioEncoder,
        Kind::AudioOutput,
        Kind::AudioDecoder,
    ];

    pub fn token(self) -> &'static str {
        match self {
            Kind::VideoSource => tokens::VIDEO_SOURCE_CONFIG,
            Kind::AudioSource => tokens::AUDIO_SOURCE_CONFIG,
            Kind::VideoEncoder => tokens::VIDEO_ENCODER_CONFIG,
            Kind::AudioEncoder => tokens::AUDIO_ENCODER_CONFIG,
            Kind::AudioOutput => tokens::AUDIO_OUTPUT_CONFIG,
            Kind::AudioDecoder => tokens::AUDIO_DECODER_CONFIG,
        }
    }

    /// Media2's name of the configuration type (ConfigurationEnumeration).
    pub fn media2_name(self) -> &'static str {
        match self {
            Kind::VideoSource => "VideoSource",
            Kind::AudioSource => "AudioSource",
            Kind::VideoEncoder => "VideoEncoder",
            Kind::AudioEncoder => "AudioEncoder",
            Kind::AudioOutput => "AudioOutput",
            Kind::AudioDecoder => "AudioDecoder",
        }
    }

    pub fn from_media2_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.media2_name() == name)
    }

    /// Whether the device has this configuration (Media1 has no encoder
    /// configuration for encodings its enums lack).
    pub fn exists(self, model: &DeviceModel, media: Media) -> bool {
        match self {
            Kind::VideoSource => model.video.is_some(),
            Kind::AudioSource => model.audio.is_some(),
            Kind::VideoEncoder => match (&model.video, media) {
                (Some(v), Media::V10) => media1_video_encoding(v).is_some(),
                (v, _) => v.is_some(),
            },
            Kind::AudioEncoder => match (&model.audio, media) {
                (Some(a), Media::V10) => media1_audio_encoding(a).is_some(),
                (a, _) => a.is_some(),
            },
            Kind::AudioOutput | Kind::AudioDecoder => model.has_audio_output(),
        }
    }

    /// Whether the profile, as this caller sees it, carries it: a viewer's
    /// profile has no audio output or decoder.
    pub fn in_profile(self, model: &DeviceModel, media: Media, ctx: &CallContext) -> bool {
        self.exists(model, media)
            && (!matches!(self, Kind::AudioOutput | Kind::AudioDecoder) || ctx.may_talk())
    }

    /// Writes the configuration as element `name`; nothing if it does not
    /// exist.
    pub fn write(self, model: &DeviceModel, media: Media, w: &mut XmlOut, name: &str) {
        if !self.exists(model, media) {
            return;
        }
        match (self, &model.video, &model.audio) {
            (Kind::VideoSource, Some(v), _) => video_source_config(w, name, v),
            (Kind::VideoEncoder, Some(v), _) => match media {
                Media::V10 => video_encoder_config_media1(w, name, v),
                Media::V20 => video_encoder_config_media2(w, name, v),
            },
            (Kind::AudioSource, _, Some(_)) => audio_source_config(w, name),
            (Kind::AudioEncoder, _, Some(a)) => match media {
                Media::V10 => audio_encoder_config_media1(w, name, a),
                Media::V20 => audio_encoder_config_media2(w, name, a),
            },
            (Kind::AudioOutput, _, _) => audio_output_config(w, name),
            (Kind::AudioDecoder, _, _) => audio_decoder_config(w, name),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::ALL_CODECS;

    fn list(names: &[&str]) -> Vec<&'static BackchannelCodec> {
        names
            .iter()
            .flat_map(|n| BackchannelCodec::resolve(n).unwrap())
            .collect()
    }

    #[test]
    fn options_group_codecs_by_encoding_in_sdp_order() {
        let all: Vec<_> = ALL_CODECS.iter().collect();
        let options = decoder_options(&all);
        let encodings: Vec<_> = options.iter().map(|o| o.encoding).collect();
        assert_eq!(
            encodings,
            [
                "PCMU",
                "PCMA",
                "G722",
                "opus",
                "mpeg4-generic",
                "L16",
                "G726"
            ]
        );
        let aac = &options[4];
        assert_eq!(aac.sample_rates, [16, 48, 44, 32, 8]);
        let l16 = &options[5];
        assert_eq!(l16.sample_rates, [48, 16, 8]);
        assert_eq!(l16.bitrates, [768, 256, 128]);
        let g726 = &options[6];
        assert_eq!(g726.bitrates, [40, 32, 24, 16]);
        assert_eq!(g726.sample_rates, [8]);
        assert_eq!(options[2].sample_rates, [16]);
    }

    #[test]
    fn options_of_single_codecs() {
        assert_eq!(
            decoder_options(&list(&["G726-24"])),
            [DecoderOption {
                encoding: "G726",
                bitrates: vec![24],
                sample_rates: vec![8]
            }]
        );
        assert_eq!(decoder_options(&list(&["PCMA"]))[0].encoding, "PCMA");
        assert!(decoder_options(&[]).is_empty());
    }

    #[test]
    fn media1_options_follow_schema_order() {
        let mut w = XmlOut::new();
        write_decoder_options_media1(&mut w, &list(&["G726-32", "PCMU", "AAC-8000"]), false);
        let xml = w.finish();
        let aac = xml.find("AACDecOptions").unwrap();
        let g711 = xml.find("G711DecOptions").unwrap();
        let g726 = xml.find("G726DecOptions").unwrap();
        assert!(aac < g711 && g711 < g726, "{xml}");
    }

    #[test]
    fn media1_names() {
        let mut v = VideoStream {
            encoding: "VP8".into(),
            width: 1,
            height: 1,
            framerate: 0.0,
            bitrate_kbps: None,
            gov_length: None,
            profile: Some("constrained-baseline".into()),
        };
        assert_eq!(media1_video_encoding(&v), None);
        assert_eq!(media2_video_encoding(&v), "VP8");
        v.encoding = "h264".into();
        assert_eq!(media1_video_encoding(&v), Some("H264"));
        assert_eq!(h264_profile(&v), "Baseline");
        assert_eq!(frame_rate(&v), 30);
        assert_eq!(video_bitrate_kbps(&v), 64);
    }
}

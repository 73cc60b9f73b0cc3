//! Media service ver10 (`trt`, http://www.onvif.org/ver10/media/wsdl): the
//! one profile (the RTSP mount) with its sources and encoders, and in its
//! `Extension` the audio output and audio decoder of the back channel, the
//! stream URI, and the decoder options that match the SDP.
//!
//! List getters answer an empty list when the device lacks the thing (a
//! schema-valid answer, never a fault); getters by token answer
//! `ter:NoConfig` / `ter:NoProfile`; the audio output calls of a device
//! without back channel answer `ter:AudioOutputNotSupported` /
//! `ter:AudioDecodingNotSupported` (Media spec).

use super::configs::{self, Kind, Media};
use super::model::{tokens, CallContext, DeviceModel};
use super::services::{check_profile, no_config, param, required, response, Fault, Reply};
use super::soap::{ns, XmlElement};
use super::xml_out::XmlOut;
use crate::codecs::BackchannelCodec;

const V10: Media = Media::V10;

pub(super) fn answer(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    let op = body.name.as_str();
    match op {
        "GetServiceCapabilities" => response("trt:GetServiceCapabilitiesResponse", &["trt"], |w| {
            service_capabilities(model, w, false)
        }),
        "GetProfiles" => response("trt:GetProfilesResponse", &["trt", "tt"], |w| {
            profile(model, ctx, w, "trt:Profiles")
        }),
        "GetProfile" => {
            check_profile(required(body, "ProfileToken")?)?;
            response("trt:GetProfileResponse", &["trt", "tt"], |w| {
                profile(model, ctx, w, "trt:Profile")
            })
        }
        "GetStreamUri" => stream_uri(model, body, ctx),
        "GetVideoSources" => response("trt:GetVideoSourcesResponse", &["trt", "tt"], |w| {
            if let Some(v) = &model.video {
                configs::video_source(w, "trt:VideoSources", v);
            }
        }),
        "GetAudioSources" => response("trt:GetAudioSourcesResponse", &["trt", "tt"], |w| {
            if model.audio.is_some() {
                configs::audio_source(w, "trt:AudioSources");
            }
        }),
        "GetAudioOutputs" => response("trt:GetAudioOutputsResponse", &["trt", "tt"], |w| {
            if model.has_audio_output() {
                configs::audio_output(w, "trt:AudioOutputs");
            }
        }),
        "GetVideoEncoderConfigurationOptions" => {
            check_optional_tokens(model, body, Kind::VideoEncoder)?;
            let Some(v) = model
                .video
                .as_ref()
                .filter(|_| Kind::VideoEncoder.exists(model, V10))
            else {
                return Err(no_config(tokens::VIDEO_ENCODER_CONFIG));
            };
            let encoding = configs::media1_video_encoding(v).unwrap_or("H264");
            response(
                "trt:GetVideoEncoderConfigurationOptionsResponse",
                &["trt", "tt"],
                |w| video_encoder_options(w, v, encoding),
            )
        }
        "GetAudioOutputConfigurationOptions" => {
            back_channel_required(model, "ter:AudioOutputNotSupported")?;
            check_optional_tokens(model, body, Kind::AudioOutput)?;
            response(
                "trt:GetAudioOutputConfigurationOptionsResponse",
                &["trt", "tt"],
                |w| configs::audio_output_options(w, "trt:Options"),
            )
        }
        "GetAudioDecoderConfigurationOptions" => {
            back_channel_required(model, "ter:AudioDecodingNotSupported")?;
            check_optional_tokens(model, body, Kind::AudioDecoder)?;
            response(
                "trt:GetAudioDecoderConfigurationOptionsResponse",
                &["trt", "tt"],
                |w| {
                    w.el("trt:Options", |w| {
                        configs::write_decoder_options_media1(w, &model.backchannel, false)
                    });
                },
            )
        }
        "AddAudioOutputConfiguration" | "RemoveAudioOutputConfiguration" => {
            back_channel_required(model, "ter:AudioOutputNotSupported")?;
            add_or_remove(body, Kind::AudioOutput, op)
        }
        "AddAudioDecoderConfiguration" | "RemoveAudioDecoderConfiguration" => {
            back_channel_required(model, "ter:AudioDecodingNotSupported")?;
            add_or_remove(body, Kind::AudioDecoder, op)
        }
        "SetAudioOutputConfiguration" | "SetAudioDecoderConfiguration" => {
            let kind = if op == "SetAudioOutputConfiguration" {
                back_channel_required(model, "ter:AudioOutputNotSupported")?;
                Kind::AudioOutput
            } else {
                back_channel_required(model, "ter:AudioDecodingNotSupported")?;
                Kind::AudioDecoder
            };
            // Nothing to change on our one fixed configuration: accepted
            // when it names it.
            let token = body
                .child("Configuration")
                .and_then(|c| c.attr("token"))
                .ok_or_else(|| Fault::missing("Configuration"))?;
            if token != kind.token() {
                return Err(no_config(token));
            }
            response(&format!("trt:{op}Response"), &["trt"], |_| {})
        }
        _ => configuration_getters(model, body, op),
    }
}

/// Get{Kind}Configurations, Get{Kind}Configuration and
/// GetCompatible{Kind}Configurations for every kind.
fn configuration_getters(model: &DeviceModel, body: &XmlElement, op: &str) -> Reply {
    let (compatible, rest) = match op.strip_prefix("GetCompatible") {
        Some(rest) => (true, rest),
        None => (false, op.strip_prefix("Get").unwrap_or("")),
    };
    let (plural, base) = match rest.strip_suffix('s') {
        Some(base) => (true, base),
        None => (false, rest),
    };
    let Some(kind) = Kind::ALL.into_iter().find(|k| media1_name(*k) == base) else {
        return Err(Fault::not_supported(op));
    };
    if compatible {
        if !plural {
            return Err(Fault::not_supported(op));
        }
        check_profile(required(body, "ProfileToken")?)?;
    }
    let name = format!("trt:{op}Response");
    if plural {
        response(&name, &["trt", "tt"], |w| {
            kind.write(model, V10, w, "trt:Configurations")
        })
    } else {
        let token = required(body, "ConfigurationToken")?;
        if token != kind.token() || !kind.exists(model, V10) {
            return Err(no_config(token));
        }
        response(&name, &["trt", "tt"], |w| {
            kind.write(model, V10, w, "trt:Configuration")
        })
    }
}

/// The configuration's name in Media1 operation names.
fn media1_name(kind: Kind) -> &'static str {
    match kind {
        Kind::VideoSource => "VideoSourceConfiguration",
        Kind::AudioSource => "AudioSourceConfiguration",
        Kind::VideoEncoder => "VideoEncoderConfiguration",
        Kind::AudioEncoder => "AudioEncoderConfiguration",
        Kind::AudioOutput => "AudioOutputConfiguration",
        Kind::AudioDecoder => "AudioDecoderConfiguration",
    }
}

/// The back channel exists (at least one codec), or the fault `subcode`
/// (`ter:AudioOutputNotSupported`, `ter:AudioDecodingNotSupported`).
fn back_channel_required(model: &DeviceModel, subcode: &'static str) -> Result<(), Fault> {
    if model.has_audio_output() {
        Ok(())
    } else {
        Err(Fault::unsupported(
            subcode,
            "the device has no back channel (no codecs)",
        ))
    }
}

/// The optional ConfigurationToken and ProfileToken of an Options call.
fn check_optional_tokens(model: &DeviceModel, body: &XmlElement, kind: Kind) -> Result<(), Fault> {
    if let Some(profile) = param(body, "ProfileToken") {
        check_profile(profile)?;
    }
    match param(body, "ConfigurationToken") {
        Some(token) if token != kind.token() || !kind.exists(model, V10) => Err(no_config(token)),
        _ => Ok(()),
    }
}

/// Adding our one configuration to our one profile, or removing it, is
/// accepted and changes nothing: the back channel is part of the mount.
fn add_or_remove(body: &XmlElement, kind: Kind, op: &str) -> Reply {
    check_profile(required(body, "ProfileToken")?)?;
    if op.starts_with("Add") {
        let token = required(body, "ConfigurationToken")?;
        if token != kind.token() {
            return Err(no_config(token));
        }
    }
    response(&format!("trt:{op}Response"), &["trt"], |_| {})
}

/// The one profile. A caller below Operator (a viewer) gets it without
/// the audio output and decoder.
fn profile(model: &DeviceModel, ctx: &CallContext, w: &mut XmlOut, name: &str) {
    w.el_attrs(
        name,
        &[("token", tokens::PROFILE), ("fixed", "true")],
        |w| {
            w.text_el("tt:Name", "main");
            Kind::VideoSource.write(model, V10, w, "tt:VideoSourceConfiguration");
            Kind::AudioSource.write(model, V10, w, "tt:AudioSourceConfiguration");
            Kind::VideoEncoder.write(model, V10, w, "tt:VideoEncoderConfiguration");
            Kind::AudioEncoder.write(model, V10, w, "tt:AudioEncoderConfiguration");
            let output = Kind::AudioOutput.in_profile(model, V10, ctx);
            let decoder = Kind::AudioDecoder.in_profile(model, V10, ctx);
            if output || decoder {
                w.el("tt:Extension", |w| {
                    if output {
                        Kind::AudioOutput.write(model, V10, w, "tt:AudioOutputConfiguration");
                    }
                    if decoder {
                        Kind::AudioDecoder.write(model, V10, w, "tt:AudioDecoderConfiguration");
                    }
                });
            }
        },
    );
}

/// GetStreamUri: the mount's URL at the host the caller used, for unicast
/// over UDP, TCP, RTSP (interleaved) or HTTP (gst-rtsp-server tunnels
/// RTSP over HTTP on its own port). Multicast is refused.
fn stream_uri(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    check_profile(required(body, "ProfileToken")?)?;
    let setup = body.child("StreamSetup");
    let stream = setup.and_then(|s| s.child_text("Stream")).map(str::trim);
    if stream == Some("RTP-Multicast") {
        return Err(Fault::invalid_arg(
            "ter:InvalidStreamSetup",
            "multicast streaming is not supported",
        ));
    }
    let protocol = setup
        .and_then(|s| s.path(&["Transport", "Protocol"]))
        .map(|p| p.text.trim());
    if let Some(p) = protocol {
        if !["UDP", "TCP", "RTSP", "HTTP"].contains(&p) {
            return Err(Fault::invalid_arg(
                "ter:InvalidStreamSetup",
                format!("unknown transport protocol {p:?}"),
            ));
        }
    }
    response("trt:GetStreamUriResponse", &["trt", "tt"], |w| {
        w.el("trt:MediaUri", |w| {
            w.text_el("tt:Uri", model.stream_uri(&ctx.host));
            w.text_el("tt:InvalidAfterConnect", "false");
            w.text_el("tt:InvalidAfterReboot", "false");
            // PT0S: valid indefinitely.
            w.text_el("tt:Timeout", "PT0S");
        });
    })
}

/// Options of the one encoder: exactly what it does (we cannot change the
/// pipeline's encoder from ONVIF).
fn video_encoder_options(w: &mut XmlOut, v: &super::model::VideoStream, encoding: &str) {
    let fps = configs::frame_rate(v);
    w.el("trt:Options", |w| {
        w.el("tt:QualityRange", |w| {
            w.text_el("tt:Min", 5);
            w.text_el("tt:Max", 5);
        });
        let range = |w: &mut XmlOut, name: &str, min: u32, max: u32| {
            w.el(name, |w| {
                w.text_el("tt:Min", min);
                w.text_el("tt:Max", max);
            });
        };
        let resolution = |w: &mut XmlOut| {
            w.el("tt:ResolutionsAvailable", |w| {
                w.text_el("tt:Width", v.width);
                w.text_el("tt:Height", v.height);
            });
        };
        match encoding {
            "JPEG" => w.el("tt:JPEG", |w| {
                resolution(w);
                range(w, "tt:FrameRateRange", fps, fps);
                range(w, "tt:EncodingIntervalRange", 1, 1);
            }),
            "MPEG4" => w.el("tt:MPEG4", |w| {
                resolution(w);
                range(w, "tt:GovLengthRange", 1, 1000);
                range(w, "tt:FrameRateRange", fps, fps);
                range(w, "tt:EncodingIntervalRange", 1, 1);
                w.text_el("tt:Mpeg4ProfilesSupported", "SP");
            }),
            _ => w.el("tt:H264", |w| {
                resolution(w);
                range(w, "tt:GovLengthRange", 1, 1000);
                range(w, "tt:FrameRateRange", fps, fps);
                range(w, "tt:EncodingIntervalRange", 1, 1);
                for p in ["Baseline", "Main", "High"] {
                    w.text_el("tt:H264ProfilesSupported", p);
                }
            }),
        };
    });
}

/// trt:Capabilities (GetServiceCapabilities; GetServices with
/// IncludeCapability declares the namespace: `declare`).
pub(super) fn service_capabilities(_model: &DeviceModel, w: &mut XmlOut, declare: bool) {
    let mut attrs = vec![
        ("SnapshotUri", "false"),
        ("Rotation", "false"),
        ("VideoSourceMode", "false"),
        ("OSD", "false"),
    ];
    if declare {
        attrs.push(("xmlns:trt", ns::MEDIA));
    }
    w.el_attrs("trt:Capabilities", &attrs, |w| {
        w.empty(
            "trt:ProfileCapabilities",
            &[("MaximumNumberOfProfiles", "1")],
        );
        w.empty(
            "trt:StreamingCapabilities",
            &[
                ("RTPMulticast", "false"),
                ("RTP_TCP", "true"),
                ("RTP_RTSP_TCP", "true"),
                ("NonAggregateControl", "false"),
                ("NoRTSPStreaming", "false"),
            ],
        );
    });
}

/// What a Media1 tt:AudioDecoderConfigurationOptions holds for these
/// codecs: AACDecOptions, G711DecOptions, G726DecOptions (in that order,
/// only those present; kbit/s and kHz), each declaring `xmlns:tt`, for an
/// application's own ONVIF server to put inside its `trt:Options`.
pub fn decoder_options_media1(codecs: &[&BackchannelCodec]) -> String {
    let mut w = XmlOut::new();
    configs::write_decoder_options_media1(&mut w, codecs, true);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::super::services::test_util::*;
    use super::*;
    use crate::onvif::model::{UserLevel, VideoStream};

    const TT: &str = ns::SCHEMA;
    const TRT: &str = ns::MEDIA;

    fn token(name: &str, value: &str) -> XmlElement {
        el(TRT, name, value, vec![])
    }

    #[test]
    fn talker_profile_carries_audio_output_in_extension() {
        let model = DeviceModel::default();
        let r = ok(
            &model,
            &request(TRT, "GetProfiles", vec![]),
            &ctx(UserLevel::Operator),
        );
        let profiles = r.find_all(TRT, "Profiles");
        assert_eq!(profiles.len(), 1);
        let p = profiles[0];
        assert_eq!(p.attr("token"), Some("profile_0"));
        assert_eq!(
            p.names(),
            [
                "Name",
                "VideoSourceConfiguration",
                "AudioSourceConfiguration",
                "VideoEncoderConfiguration",
                "AudioEncoderConfiguration",
                "Extension"
            ]
        );
        let vec = p.get(TT, "VideoEncoderConfiguration");
        assert_eq!(vec.get(TT, "Encoding").text, "H264");
        assert_eq!(vec.get(TT, "Width").text, "640");
        assert_eq!(
            vec.names(),
            [
                "Name",
                "UseCount",
                "Encoding",
                "Resolution",
                "Quality",
                "RateControl",
                "H264",
                "Multicast",
                "SessionTimeout"
            ]
        );
        let ext = p.get(TT, "Extension");
        assert_eq!(
            ext.names(),
            ["AudioOutputConfiguration", "AudioDecoderConfiguration"]
        );
        let aoc = ext.get(TT, "AudioOutputConfiguration");
        assert_eq!(
            aoc.names(),
            ["Name", "UseCount", "OutputToken", "OutputLevel"]
        );
        assert_eq!(aoc.get(TT, "OutputToken").text, "audio_output_0");
        assert_eq!(
            p.get(TT, "AudioEncoderConfiguration")
                .get(TT, "Encoding")
                .text,
            "G711"
        );
    }

    #[test]
    fn viewer_profile_has_no_audio_output() {
        let model = DeviceModel::default();
        for level in [UserLevel::User, UserLevel::Anonymous] {
            let r = ok(&model, &request(TRT, "GetProfiles", vec![]), &ctx(level));
            assert!(r.find(TT, "AudioOutputConfiguration").is_none());
            assert!(r.find(TT, "AudioDecoderConfiguration").is_none());
            assert!(r.find(TT, "Extension").is_none());
            assert!(r.find(TT, "VideoEncoderConfiguration").is_some());
        }
    }

    #[test]
    fn media1_omits_encoders_it_cannot_name() {
        let mut model = DeviceModel::default();
        model.video.as_mut().unwrap().encoding = "VP8".into();
        model.audio.as_mut().unwrap().encoding = "opus".into();
        let c = ctx(UserLevel::Operator);
        let r = ok(&model, &request(TRT, "GetProfiles", vec![]), &c);
        assert!(r.find(TT, "VideoEncoderConfiguration").is_none());
        assert!(r.find(TT, "AudioEncoderConfiguration").is_none());
        assert!(r.find(TT, "VideoSourceConfiguration").is_some());
        let r = ok(
            &model,
            &request(TRT, "GetVideoEncoderConfigurations", vec![]),
            &c,
        );
        assert!(r.children.is_empty());
    }

    #[test]
    fn video_source_token_matches_profile_source_token() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::User);
        let sources = ok(&model, &request(TRT, "GetVideoSources", vec![]), &c);
        let source = sources.get(TRT, "VideoSources");
        let profiles = ok(&model, &request(TRT, "GetProfiles", vec![]), &c);
        assert_eq!(
            source.attr("token").unwrap(),
            profiles.get(TT, "SourceToken").text
        );
        assert_eq!(source.names(), ["Framerate", "Resolution"]);
    }

    #[test]
    fn stream_uri_at_caller_host() {
        let model = DeviceModel::default();
        let mut c = ctx(UserLevel::User);
        c.host = "fd00::7".into();
        let setup = el(
            TRT,
            "StreamSetup",
            "",
            vec![
                el(TT, "Stream", "RTP-Unicast", vec![]),
                el(
                    TT,
                    "Transport",
                    "",
                    vec![el(TT, "Protocol", "RTSP", vec![])],
                ),
            ],
        );
        let req = request(
            TRT,
            "GetStreamUri",
            vec![setup.clone(), token("ProfileToken", "profile_0")],
        );
        let r = ok(&model, &req, &c);
        assert_eq!(r.get(TT, "Uri").text, "rtsp://[fd00::7]:8554/stream");
        assert_eq!(
            r.get(TRT, "MediaUri").names(),
            [
                "Uri",
                "InvalidAfterConnect",
                "InvalidAfterReboot",
                "Timeout"
            ]
        );

        let wrong = request(
            TRT,
            "GetStreamUri",
            vec![setup, token("ProfileToken", "nope")],
        );
        let (status, codes) = fault(&model, &wrong, &c);
        assert_eq!(status, 400);
        assert_eq!(codes, ["env:Sender", "ter:InvalidArgVal", "ter:NoProfile"]);

        let multicast = request(
            TRT,
            "GetStreamUri",
            vec![
                el(
                    TRT,
                    "StreamSetup",
                    "",
                    vec![el(TT, "Stream", "RTP-Multicast", vec![])],
                ),
                token("ProfileToken", "profile_0"),
            ],
        );
        let (_, codes) = fault(&model, &multicast, &c);
        assert_eq!(codes.last().unwrap(), "ter:InvalidStreamSetup");
    }

    #[test]
    fn every_getter_answers_well_formed() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Operator);
        for op in [
            "GetServiceCapabilities",
            "GetVideoSources",
            "GetAudioSources",
            "GetAudioOutputs",
            "GetVideoSourceConfigurations",
            "GetVideoEncoderConfigurations",
            "GetAudioSourceConfigurations",
            "GetAudioEncoderConfigurations",
            "GetAudioOutputConfigurations",
            "GetAudioDecoderConfigurations",
            "GetVideoEncoderConfigurationOptions",
            "GetAudioOutputConfigurationOptions",
            "GetAudioDecoderConfigurationOptions",
        ] {
            let r = ok(&model, &request(TRT, op, vec![]), &c);
            assert!(!r.children.is_empty(), "{op}");
        }
        for (op, tok) in [
            ("GetVideoSourceConfiguration", "video_source_config_0"),
            ("GetVideoEncoderConfiguration", "video_encoder_config_0"),
            ("GetAudioSourceConfiguration", "audio_source_config_0"),
            ("GetAudioEncoderConfiguration", "audio_encoder_config_0"),
            ("GetAudioOutputConfiguration", "audio_output_config_0"),
            ("GetAudioDecoderConfiguration", "audio_decoder_config_0"),
        ] {
            let r = ok(
                &model,
                &request(TRT, op, vec![token("ConfigurationToken", tok)]),
                &c,
            );
            assert_eq!(r.get(TRT, "Configuration").attr("token"), Some(tok));
            let (status, codes) = fault(
                &model,
                &request(TRT, op, vec![token("ConfigurationToken", "x")]),
                &c,
            );
            assert_eq!(status, 400);
            assert_eq!(codes.last().unwrap(), "ter:NoConfig");
        }
        for op in [
            "GetCompatibleAudioOutputConfigurations",
            "GetCompatibleAudioDecoderConfigurations",
            "GetCompatibleVideoEncoderConfigurations",
        ] {
            let r = ok(
                &model,
                &request(TRT, op, vec![token("ProfileToken", "profile_0")]),
                &c,
            );
            assert_eq!(r.find_all(TRT, "Configurations").len(), 1, "{op}");
        }
        let r = ok(&model, &request(TRT, "GetAudioOutputs", vec![]), &c);
        assert_eq!(
            r.get(TRT, "AudioOutputs").attr("token"),
            Some("audio_output_0")
        );
    }

    #[test]
    fn add_and_remove_audio_configurations() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Operator);
        for (op, tok) in [
            ("AddAudioOutputConfiguration", "audio_output_config_0"),
            ("AddAudioDecoderConfiguration", "audio_decoder_config_0"),
        ] {
            ok(
                &model,
                &request(
                    TRT,
                    op,
                    vec![
                        token("ProfileToken", "profile_0"),
                        token("ConfigurationToken", tok),
                    ],
                ),
                &c,
            );
            let (_, codes) = fault(
                &model,
                &request(
                    TRT,
                    op,
                    vec![
                        token("ProfileToken", "profile_0"),
                        token("ConfigurationToken", "z"),
                    ],
                ),
                &c,
            );
            assert_eq!(codes.last().unwrap(), "ter:NoConfig");
        }
        for op in [
            "RemoveAudioOutputConfiguration",
            "RemoveAudioDecoderConfiguration",
        ] {
            ok(
                &model,
                &request(TRT, op, vec![token("ProfileToken", "profile_0")]),
                &c,
            );
        }
        let no_talk = DeviceModel {
            backchannel: vec![],
            ..DeviceModel::default()
        };
        let (status, codes) = fault(
            &no_talk,
            &request(
                TRT,
                "AddAudioOutputConfiguration",
                vec![
                    token("ProfileToken", "profile_0"),
                    token("ConfigurationToken", "audio_output_config_0"),
                ],
            ),
            &c,
        );
        assert_eq!(status, 500);
        assert_eq!(
            codes,
            [
                "env:Receiver",
                "ter:ActionNotSupported",
                "ter:AudioOutputNotSupported"
            ]
        );
        // Without a back channel the lists are empty, not faults.
        let r = ok(&no_talk, &request(TRT, "GetAudioOutputs", vec![]), &c);
        assert!(r.children.is_empty());
        let r = ok(&no_talk, &request(TRT, "GetProfiles", vec![]), &c);
        assert!(r.find(TT, "Extension").is_none());
    }

    fn decoder_options(names: &[&str]) -> Node {
        let model = model_with_codecs(names);
        let r = ok(
            &model,
            &request(TRT, "GetAudioDecoderConfigurationOptions", vec![]),
            &ctx(UserLevel::Operator),
        );
        r.get(TRT, "Options").clone()
    }

    fn items(node: &Node, name: &str) -> Vec<String> {
        node.get(TT, name)
            .find_all(TT, "Items")
            .iter()
            .map(|i| i.text.clone())
            .collect()
    }

    #[test]
    fn decoder_options_follow_codecs() {
        // Default list: every codec.
        let all: Vec<&str> = crate::codecs::ALL_CODECS.iter().map(|c| c.name).collect();
        let o = decoder_options(&all);
        assert_eq!(
            o.names(),
            ["AACDecOptions", "G711DecOptions", "G726DecOptions"]
        );
        let aac = o.get(TT, "AACDecOptions");
        assert_eq!(aac.names(), ["Bitrate", "SampleRateRange"]);
        assert_eq!(items(aac, "SampleRateRange"), ["16", "48", "44", "32", "8"]);
        assert_eq!(
            items(o.get(TT, "G726DecOptions"), "Bitrate"),
            ["40", "32", "24", "16"]
        );
        assert_eq!(items(o.get(TT, "G711DecOptions"), "Bitrate"), ["64"]);

        assert_eq!(decoder_options(&["PCMU"]).names(), ["G711DecOptions"]);
        let aac = decoder_options(&["AAC-8000"]);
        assert_eq!(aac.names(), ["AACDecOptions"]);
        assert_eq!(
            items(aac.get(TT, "AACDecOptions"), "SampleRateRange"),
            ["8"]
        );
        let g726 = decoder_options(&["G726-16"]);
        assert_eq!(g726.names(), ["G726DecOptions"]);
        assert_eq!(items(g726.get(TT, "G726DecOptions"), "Bitrate"), ["16"]);
        assert_eq!(
            items(g726.get(TT, "G726DecOptions"), "SampleRateRange"),
            ["8"]
        );
        // Opus and L16 have no Media1 slot.
        assert!(decoder_options(&["OPUS", "L16-16000"]).children.is_empty());
    }

    #[test]
    fn public_fragment_is_self_contained() {
        let codecs: Vec<_> = ["PCMA", "G726-32"]
            .iter()
            .map(|n| BackchannelCodec::by_name(n).unwrap())
            .collect();
        let xml = decoder_options_media1(&codecs);
        let wrapped = parse(&format!("<r>{xml}</r>"));
        assert_eq!(wrapped.names(), ["G711DecOptions", "G726DecOptions"]);
        assert_eq!(wrapped.children[0].ns, TT);
    }

    #[test]
    fn encoder_options_and_unknown_video() {
        let mut model = DeviceModel::default();
        model.video = Some(VideoStream {
            encoding: "H265".into(),
            ..model.video.clone().unwrap()
        });
        let (_, codes) = fault(
            &model,
            &request(TRT, "GetVideoEncoderConfigurationOptions", vec![]),
            &ctx(UserLevel::User),
        );
        assert_eq!(codes.last().unwrap(), "ter:NoConfig");
        let model = DeviceModel::default();
        let r = ok(
            &model,
            &request(TRT, "GetVideoEncoderConfigurationOptions", vec![]),
            &ctx(UserLevel::User),
        );
        assert_eq!(
            r.get(TT, "H264").names(),
            [
                "ResolutionsAvailable",
                "GovLengthRange",
                "FrameRateRange",
                "EncodingIntervalRange",
                "H264ProfilesSupported",
                "H264ProfilesSupported",
                "H264ProfilesSupported"
            ]
        );
    }
}

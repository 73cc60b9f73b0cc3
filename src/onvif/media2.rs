//! Media2 service (`tr2`, http://www.onvif.org/ver20/media/wsdl): the one
//! profile with its configurations (audio output and decoder among them),
//! the stream URI, and the decoder options by IANA encoding name.

use super::configs::{self, Kind, Media};
use super::model::{tokens, CallContext, DeviceModel};
use super::services::{check_profile, no_config, param, required, response, Fault, Reply};
use super::soap::{ns, XmlElement};
use super::xml_out::XmlOut;
use crate::codecs::BackchannelCodec;

const V20: Media = Media::V20;

pub(super) fn answer(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    let op = body.name.as_str();
    match op {
        "GetServiceCapabilities" => response("tr2:GetServiceCapabilitiesResponse", &["tr2"], |w| {
            service_capabilities(model, w, false)
        }),
        "GetProfiles" => profiles(model, body, ctx),
        "GetStreamUri" => stream_uri(model, body, ctx),
        "GetAudioOutputConfigurationOptions" => {
            let options = configurations(model, body, ctx, Kind::AudioOutput)?;
            if options.is_empty() {
                return Err(no_config(tokens::AUDIO_OUTPUT_CONFIG));
            }
            response(
                "tr2:GetAudioOutputConfigurationOptionsResponse",
                &["tr2", "tt"],
                |w| configs::audio_output_options(w, "tr2:Options"),
            )
        }
        "GetAudioDecoderConfigurationOptions" => {
            let options = configurations(model, body, ctx, Kind::AudioDecoder)?;
            if options.is_empty() {
                return Err(no_config(tokens::AUDIO_DECODER_CONFIG));
            }
            response(
                "tr2:GetAudioDecoderConfigurationOptionsResponse",
                &["tr2", "tt"],
                |w| {
                    configs::write_decoder_options_media2(w, "tr2:Options", &model.backchannel, &[])
                },
            )
        }
        "AddConfiguration" | "RemoveConfiguration" => add_or_remove(model, body, op),
        _ => {
            let kind = op
                .strip_prefix("Get")
                .and_then(|r| r.strip_suffix("Configurations"))
                .and_then(Kind::from_media2_name);
            let Some(kind) = kind else {
                return Err(Fault::not_supported(op));
            };
            let list = configurations(model, body, ctx, kind)?;
            response(&format!("tr2:{op}Response"), &["tr2", "tt"], |w| {
                for kind in list {
                    kind.write(model, V20, w, "tr2:Configurations");
                }
            })
        }
    }
}

/// The configurations of `kind` a tr2:GetConfiguration request selects:
/// the device's, or with ProfileToken the profile's as this caller sees
/// it (empty for a viewer's audio output); ConfigurationToken must be ours.
fn configurations(
    model: &DeviceModel,
    body: &XmlElement,
    ctx: &CallContext,
    kind: Kind,
) -> Result<Vec<Kind>, Fault> {
    let mut present = kind.exists(model, V20);
    if let Some(profile) = param(body, "ProfileToken") {
        check_profile(profile)?;
        present = kind.in_profile(model, V20, ctx);
    }
    if let Some(token) = param(body, "ConfigurationToken") {
        if token != kind.token() || !kind.exists(model, V20) {
            return Err(no_config(token));
        }
    }
    Ok(if present { vec![kind] } else { vec![] })
}

/// GetProfiles: without Type, profiles without configurations; Type `All`
/// or a list of types selects them (Media2 spec). A viewer's profile has no
/// audio output or decoder.
fn profiles(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    if let Some(token) = param(body, "Token") {
        check_profile(token)?;
    }
    let types: Vec<&str> = body
        .children
        .iter()
        .filter(|c| c.name == "Type")
        .flat_map(|c| c.text.split_whitespace())
        .collect();
    let all = types.contains(&"All");
    let chosen: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| all || types.contains(&k.media2_name()))
        .filter(|k| k.in_profile(model, V20, ctx))
        .collect();
    response("tr2:GetProfilesResponse", &["tr2", "tt"], |w| {
        w.el_attrs(
            "tr2:Profiles",
            &[("token", tokens::PROFILE), ("fixed", "true")],
            |w| {
                w.text_el("tr2:Name", "main");
                if !types.is_empty() {
                    w.el("tr2:Configurations", |w| {
                        // Kind::ALL is in ConfigurationSet order.
                        for kind in &chosen {
                            kind.write(model, V20, w, &format!("tr2:{}", kind.media2_name()));
                        }
                    });
                }
            },
        );
    })
}

/// GetStreamUri: the mount's URL at the caller's host for the unicast
/// protocols. RtspOverHttp gets the same URL: gst-rtsp-server tunnels RTSP
/// over HTTP on its RTSP port, not on the web service's port as Media2
/// would like. Multicast is refused (`ter:InvalidStreamSetup`).
fn stream_uri(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    let protocol = required(body, "Protocol")?;
    check_profile(required(body, "ProfileToken")?)?;
    let known = ["RtspUnicast", "RTSP", "RtspOverHttp", "RtspsUnicast"];
    if !known.iter().any(|p| p.eq_ignore_ascii_case(protocol)) {
        return Err(Fault::invalid_arg(
            "ter:InvalidStreamSetup",
            format!("protocol {protocol:?} is not supported"),
        ));
    }
    response("tr2:GetStreamUriResponse", &["tr2"], |w| {
        w.text_el("tr2:Uri", model.stream_uri(&ctx.host));
    })
}

/// AddConfiguration / RemoveConfiguration: accepted for our profile and
/// configurations, changing nothing (the back channel belongs to the
/// mount). A type we lack answers `ter:NoConfig`.
fn add_or_remove(model: &DeviceModel, body: &XmlElement, op: &str) -> Reply {
    check_profile(required(body, "ProfileToken")?)?;
    for c in body.children.iter().filter(|c| c.name == "Configuration") {
        let kind_name = c.child_text("Type").map(str::trim).unwrap_or("");
        let kind = match Kind::from_media2_name(kind_name) {
            Some(kind) if kind.exists(model, V20) => kind,
            _ if kind_name == "All" && op == "RemoveConfiguration" => continue,
            _ => {
                return Err(Fault::invalid_arg(
                    "ter:NoConfig",
                    format!("no configuration of type {kind_name:?}"),
                ))
            }
        };
        if let Some(token) = c.child_text("Token").map(str::trim) {
            if token != kind.token() {
                return Err(no_config(token));
            }
        }
    }
    response(&format!("tr2:{op}Response"), &["tr2"], |_| {})
}

/// tr2:Capabilities: one profile; ConfigurationsSupported lists the
/// configuration types we have, the audio output and decoder among them
/// (never `All`); RTSP streaming.
pub(super) fn service_capabilities(model: &DeviceModel, w: &mut XmlOut, declare: bool) {
    let supported: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| k.exists(model, V20))
        .map(Kind::media2_name)
        .collect();
    let supported = supported.join(" ");
    let mut attrs = vec![
        ("SnapshotUri", "false"),
        ("Rotation", "false"),
        ("VideoSourceMode", "false"),
        ("OSD", "false"),
        ("TemporaryOSDText", "false"),
        ("Mask", "false"),
        ("SourceMask", "false"),
    ];
    if declare {
        attrs.push(("xmlns:tr2", ns::MEDIA2));
    }
    let secure = if model.rtsp_scheme == "rtsps" {
        "true"
    } else {
        "false"
    };
    w.el_attrs("tr2:Capabilities", &attrs, |w| {
        w.empty(
            "tr2:ProfileCapabilities",
            &[
                ("MaximumNumberOfProfiles", "1"),
                ("ConfigurationsSupported", &supported),
            ],
        );
        w.empty(
            "tr2:StreamingCapabilities",
            &[
                ("RTSPStreaming", "true"),
                ("RTPMulticast", "false"),
                ("RTP_RTSP_TCP", "true"),
                ("NonAggregateControl", "false"),
                ("AutoStartMulticast", "false"),
                ("SecureRTSPStreaming", secure),
            ],
        );
    });
}

/// What a Media2 GetAudioDecoderConfigurationOptionsResponse holds for
/// these codecs: one `tr2:Options` per encoding (IANA names PCMU, PCMA,
/// G722, G726, mpeg4-generic, opus, L16 in the SDP's order) with Encoding,
/// BitrateList (kbit/s) and SampleRateList (kHz), each declaring
/// `xmlns:tr2` and `xmlns:tt`.
pub fn decoder_options_media2(codecs: &[&BackchannelCodec]) -> String {
    let mut w = XmlOut::new();
    configs::write_decoder_options_media2(
        &mut w,
        "tr2:Options",
        codecs,
        &[("xmlns:tr2", ns::MEDIA2), ("xmlns:tt", ns::SCHEMA)],
    );
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::super::services::test_util::*;
    use super::*;
    use crate::onvif::model::UserLevel;

    const TT: &str = ns::SCHEMA;
    const TR2: &str = ns::MEDIA2;

    fn types(t: &[&str]) -> Vec<XmlElement> {
        t.iter().map(|t| el(TR2, "Type", t, vec![])).collect()
    }

    #[test]
    fn profiles_without_type_have_no_configurations() {
        let r = ok(
            &DeviceModel::default(),
            &request(TR2, "GetProfiles", vec![]),
            &ctx(UserLevel::Operator),
        );
        let p = r.get(TR2, "Profiles");
        assert_eq!(p.attr("token"), Some("profile_0"));
        assert_eq!(p.names(), ["Name"]);
    }

    #[test]
    fn all_configurations_in_schema_order_for_a_talker() {
        let r = ok(
            &DeviceModel::default(),
            &request(TR2, "GetProfiles", types(&["All"])),
            &ctx(UserLevel::Operator),
        );
        let conf = r.get(TR2, "Configurations");
        assert_eq!(
            conf.names(),
            [
                "VideoSource",
                "AudioSource",
                "VideoEncoder",
                "AudioEncoder",
                "AudioOutput",
                "AudioDecoder"
            ]
        );
        assert!(conf.children.iter().all(|c| c.ns == TR2));
        let ve = conf.get(TR2, "VideoEncoder");
        assert_eq!(ve.attr("Profile"), Some("Main"));
        assert_eq!(
            ve.names(),
            [
                "Name",
                "UseCount",
                "Encoding",
                "Resolution",
                "RateControl",
                "Quality"
            ]
        );
        assert_eq!(
            conf.get(TR2, "AudioOutput").get(TT, "OutputToken").text,
            "audio_output_0"
        );
        assert_eq!(
            conf.get(TR2, "AudioEncoder").names(),
            ["Name", "UseCount", "Encoding", "Bitrate", "SampleRate"]
        );
    }

    #[test]
    fn viewer_and_type_lists() {
        let model = DeviceModel::default();
        let r = ok(
            &model,
            &request(TR2, "GetProfiles", types(&["All"])),
            &ctx(UserLevel::User),
        );
        assert_eq!(
            r.get(TR2, "Configurations").names(),
            ["VideoSource", "AudioSource", "VideoEncoder", "AudioEncoder"]
        );
        let r = ok(
            &model,
            &request(TR2, "GetProfiles", types(&["AudioDecoder", "VideoSource"])),
            &ctx(UserLevel::Operator),
        );
        assert_eq!(
            r.get(TR2, "Configurations").names(),
            ["VideoSource", "AudioDecoder"]
        );
        // Viewer: the profile's audio output list is empty, the device's is not.
        let c = ctx(UserLevel::User);
        let in_profile = request(
            TR2,
            "GetAudioOutputConfigurations",
            vec![el(TR2, "ProfileToken", "profile_0", vec![])],
        );
        assert!(ok(&model, &in_profile, &c).children.is_empty());
        let device = request(TR2, "GetAudioOutputConfigurations", vec![]);
        assert_eq!(ok(&model, &device, &c).children.len(), 1);

        let wrong = request(TR2, "GetProfiles", vec![el(TR2, "Token", "x", vec![])]);
        let (status, codes) = fault(&model, &wrong, &c);
        assert_eq!(status, 400);
        assert_eq!(codes.last().unwrap(), "ter:NoProfile");
    }

    #[test]
    fn stream_uri_protocols() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::User);
        for protocol in ["RtspUnicast", "RTSP", "RtspOverHttp"] {
            let req = request(
                TR2,
                "GetStreamUri",
                vec![
                    el(TR2, "Protocol", protocol, vec![]),
                    el(TR2, "ProfileToken", "profile_0", vec![]),
                ],
            );
            let r = ok(&model, &req, &c);
            assert_eq!(r.get(TR2, "Uri").text, "rtsp://192.0.2.10:8554/stream");
        }
        let req = request(
            TR2,
            "GetStreamUri",
            vec![
                el(TR2, "Protocol", "RtspMulticast", vec![]),
                el(TR2, "ProfileToken", "profile_0", vec![]),
            ],
        );
        let (_, codes) = fault(&model, &req, &c);
        assert_eq!(codes.last().unwrap(), "ter:InvalidStreamSetup");
    }

    fn options(names: &[&str]) -> Vec<(String, Vec<String>, Vec<String>)> {
        let model = model_with_codecs(names);
        let r = ok(
            &model,
            &request(TR2, "GetAudioDecoderConfigurationOptions", vec![]),
            &ctx(UserLevel::Operator),
        );
        let texts = |n: &Node, name: &str| -> Vec<String> {
            n.get(TT, name)
                .find_all(TT, "Items")
                .iter()
                .map(|i| i.text.clone())
                .collect()
        };
        r.find_all(TR2, "Options")
            .iter()
            .map(|o| {
                assert_eq!(o.names(), ["Encoding", "BitrateList", "SampleRateList"]);
                (
                    o.get(TT, "Encoding").text.clone(),
                    texts(o, "BitrateList"),
                    texts(o, "SampleRateList"),
                )
            })
            .collect()
    }

    #[test]
    fn decoder_options_by_iana_name() {
        let all: Vec<&str> = crate::codecs::ALL_CODECS.iter().map(|c| c.name).collect();
        let encodings: Vec<_> = options(&all).into_iter().map(|o| o.0).collect();
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
        assert_eq!(
            options(&["PCMU"]),
            [("PCMU".into(), vec!["64".into()], vec!["8".into()])]
        );
        let aac = options(&["AAC"]);
        assert_eq!(aac.len(), 1);
        assert_eq!(aac[0].0, "mpeg4-generic");
        assert_eq!(aac[0].2, ["16", "48", "44", "32", "8"]);
        let g726 = options(&["G726-40", "G726-16"]);
        assert_eq!(
            g726,
            [(
                "G726".into(),
                vec!["40".into(), "16".into()],
                vec!["8".into()]
            )]
        );
    }

    #[test]
    fn configuration_lists_and_add_remove() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Operator);
        for op in [
            "GetVideoSourceConfigurations",
            "GetVideoEncoderConfigurations",
            "GetAudioSourceConfigurations",
            "GetAudioEncoderConfigurations",
            "GetAudioOutputConfigurations",
            "GetAudioDecoderConfigurations",
            "GetAudioOutputConfigurationOptions",
            "GetServiceCapabilities",
        ] {
            let r = ok(&model, &request(TR2, op, vec![]), &c);
            assert_eq!(r.children.len(), 1, "{op}");
        }
        let bad = request(
            TR2,
            "GetVideoEncoderConfigurations",
            vec![el(TR2, "ConfigurationToken", "x", vec![])],
        );
        assert_eq!(fault(&model, &bad, &c).1.last().unwrap(), "ter:NoConfig");

        let conf = |t: &str, tok: Option<&str>| {
            let mut children = vec![el(TR2, "Type", t, vec![])];
            if let Some(tok) = tok {
                children.push(el(TR2, "Token", tok, vec![]));
            }
            el(TR2, "Configuration", "", children)
        };
        for op in ["AddConfiguration", "RemoveConfiguration"] {
            let req = request(
                TR2,
                op,
                vec![
                    el(TR2, "ProfileToken", "profile_0", vec![]),
                    conf("AudioOutput", Some("audio_output_config_0")),
                    conf("AudioDecoder", None),
                ],
            );
            ok(&model, &req, &c);
        }
        let req = request(
            TR2,
            "AddConfiguration",
            vec![
                el(TR2, "ProfileToken", "profile_0", vec![]),
                conf("PTZ", None),
            ],
        );
        assert_eq!(fault(&model, &req, &c).1.last().unwrap(), "ter:NoConfig");
    }

    #[test]
    fn public_fragment_is_self_contained() {
        let codecs: Vec<_> = ["OPUS", "L16-8000"]
            .iter()
            .map(|n| BackchannelCodec::by_name(n).unwrap())
            .collect();
        let xml = decoder_options_media2(&codecs);
        let wrapped = parse(&format!("<r>{xml}</r>"));
        assert_eq!(wrapped.names(), ["Options", "Options"]);
        assert_eq!(wrapped.children[0].ns, TR2);
        assert_eq!(wrapped.children[1].get(TT, "Encoding").text, "L16");
    }
}

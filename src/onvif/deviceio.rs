//! DeviceIO service (`tmd`, http://www.onvif.org/ver10/deviceIO/wsdl): the
//! audio output as a physical output, with its configuration. A wrong
//! AudioOutputToken answers `ter:NoAudioOutput`, a wrong configuration
//! token `ter:NoConfig`.

use super::configs;
use super::model::{tokens, CallContext, DeviceModel};
use super::services::{no_config, required, response, Fault, Reply};
use super::soap::XmlElement;

pub(super) fn answer(model: &DeviceModel, body: &XmlElement, _ctx: &CallContext) -> Reply {
    let op = body.name.as_str();
    match op {
        "GetServiceCapabilities" => response("tmd:GetServiceCapabilitiesResponse", &["tmd"], |w| {
            super::device::deviceio_capabilities(model, w, false)
        }),
        "GetAudioOutputs" => response("tmd:GetAudioOutputsResponse", &["tmd"], |w| {
            if model.has_audio_output() {
                w.text_el("tmd:Token", tokens::AUDIO_OUTPUT);
            }
        }),
        "GetAudioSources" => response("tmd:GetAudioSourcesResponse", &["tmd"], |w| {
            if model.audio.is_some() {
                w.text_el("tmd:Token", tokens::AUDIO_SOURCE);
            }
        }),
        "GetVideoSources" => response("tmd:GetVideoSourcesResponse", &["tmd"], |w| {
            if model.video.is_some() {
                w.text_el("tmd:Token", tokens::VIDEO_SOURCE);
            }
        }),
        "GetAudioOutputConfiguration" => {
            output(model, required(body, "AudioOutputToken")?)?;
            response(
                "tmd:GetAudioOutputConfigurationResponse",
                &["tmd", "tt"],
                |w| configs::audio_output_config(w, "tmd:AudioOutputConfiguration"),
            )
        }
        "GetAudioOutputConfigurationOptions" => {
            output(model, required(body, "AudioOutputToken")?)?;
            response(
                "tmd:GetAudioOutputConfigurationOptionsResponse",
                &["tmd", "tt"],
                |w| configs::audio_output_options(w, "tmd:AudioOutputOptions"),
            )
        }
        "SetAudioOutputConfiguration" => {
            // Our one configuration is fixed: accepted when it is named.
            let token = body
                .child("Configuration")
                .and_then(|c| c.attr("token"))
                .ok_or_else(|| Fault::missing("Configuration"))?;
            if !model.has_audio_output() || token != tokens::AUDIO_OUTPUT_CONFIG {
                return Err(no_config(token));
            }
            response("tmd:SetAudioOutputConfigurationResponse", &["tmd"], |_| {})
        }
        _ => Err(Fault::not_supported(op)),
    }
}

fn output(model: &DeviceModel, token: &str) -> Result<(), Fault> {
    if model.has_audio_output() && token == tokens::AUDIO_OUTPUT {
        Ok(())
    } else {
        Err(Fault::invalid_arg(
            "ter:NoAudioOutput",
            format!("no audio output with token {token:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::services::test_util::*;
    use super::*;
    use crate::onvif::model::UserLevel;
    use crate::onvif::soap::ns;

    const TMD: &str = ns::DEVICEIO;
    const TT: &str = ns::SCHEMA;

    #[test]
    fn audio_output_and_its_configuration() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Operator);
        let r = ok(&model, &request(TMD, "GetAudioOutputs", vec![]), &c);
        assert_eq!(r.get(TMD, "Token").text, "audio_output_0");
        let r = ok(&model, &request(TMD, "GetServiceCapabilities", vec![]), &c);
        assert_eq!(r.get(TMD, "Capabilities").attr("AudioOutputs"), Some("1"));

        let by_token =
            |op: &str, tok: &str| request(TMD, op, vec![el(TMD, "AudioOutputToken", tok, vec![])]);
        let r = ok(
            &model,
            &by_token("GetAudioOutputConfiguration", "audio_output_0"),
            &c,
        );
        let conf = r.get(TMD, "AudioOutputConfiguration");
        assert_eq!(conf.attr("token"), Some("audio_output_config_0"));
        assert_eq!(conf.get(TT, "OutputToken").text, "audio_output_0");
        let r = ok(
            &model,
            &by_token("GetAudioOutputConfigurationOptions", "audio_output_0"),
            &c,
        );
        assert_eq!(
            r.get(TMD, "AudioOutputOptions").names(),
            ["OutputTokensAvailable", "OutputLevelRange"]
        );
        let (status, codes) = fault(&model, &by_token("GetAudioOutputConfiguration", "x"), &c);
        assert_eq!(status, 400);
        assert_eq!(
            codes,
            ["env:Sender", "ter:InvalidArgVal", "ter:NoAudioOutput"]
        );

        let mut conf = el(TMD, "Configuration", "", vec![]);
        conf.attrs
            .push(("token".into(), "audio_output_config_0".into()));
        let set = request(
            TMD,
            "SetAudioOutputConfiguration",
            vec![conf, el(TMD, "ForcePersistence", "true", vec![])],
        );
        ok(&model, &set, &c);
    }

    #[test]
    fn no_back_channel_lists_nothing() {
        let model = DeviceModel {
            backchannel: vec![],
            ..DeviceModel::default()
        };
        let c = ctx(UserLevel::Operator);
        let r = ok(&model, &request(TMD, "GetAudioOutputs", vec![]), &c);
        assert!(r.children.is_empty());
        let r = ok(&model, &request(TMD, "GetServiceCapabilities", vec![]), &c);
        assert_eq!(r.get(TMD, "Capabilities").attr("AudioOutputs"), Some("0"));
    }
}

//! Glue between the element's web server and the ONVIF services: reads the
//! request, authenticates the caller, and answers from the device model.
//!
//! Authentication, with `users-file` (ONVIF Core 5.9 and the clients in
//! `onvif-notes.md`):
//! - a WS-Security UsernameToken (what Home Assistant, go2rtc and
//!   rtsp-backchannel send) is checked first: PasswordDigest, Created within
//!   the allowed skew, nonce never seen before. A bad one is refused with
//!   HTTP 400 and `env:Sender/ter:NotAuthorized`, whatever else the request
//!   carries;
//! - else HTTP digest credentials (what agsh/Scrypted answer a 401 with,
//!   checked by `http::digest`: nonce ours and fresh, `nc` never seen) name
//!   the user. Refused ones get 401 with a fresh challenge (`stale=true`
//!   when only the nonce was at fault, so the client retries by itself) and
//!   a NotAuthorized fault in the body, as HTTP authentication requires;
//! - else the caller is anonymous, and may call only the pre-auth operations
//!   (`access::required_level`); other calls get 401 with a digest challenge
//!   and a NotAuthorized fault in the body.
//!
//! `viewer` is the ONVIF User level, `talker` Operator. Without `users-file`
//! every caller is an Operator, as every RTSP client may talk then.
//! Passwords never reach a log: only user names and the reason of a refusal.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::http::{Request, Response};
use crate::onvif::model::{AudioStream, CallContext, DeviceModel, UserLevel, VideoStream};
use crate::onvif::soap::{self, FaultCode, SoapError, SoapVersion};
use crate::onvif::{access, services, wsse};
use crate::users::{Role, User};

/// Debug category of the ONVIF services and their glue.
pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "onvifbackchannel-onvif",
        gst::DebugColorFlags::empty(),
        Some("ONVIF device services"),
    )
});

/// The paths of the services, under the element's web server.
pub const DEVICE_PATH: &str = "/onvif/device_service";
pub const SERVICES_PREFIX: &str = "/onvif";

/// Learns the forward streams of the profile (blocks while the forward
/// pipeline starts).
pub type FetchStreams =
    Box<dyn Fn() -> Result<(Option<VideoStream>, Option<AudioStream>), String> + Send + Sync>;

/// The profile's forward streams, once learnt.
#[derive(Default)]
struct Streams {
    known: Option<(Option<VideoStream>, Option<AudioStream>)>,
    /// When learning them last failed: not tried again for
    /// [`RETRY_AFTER`], so that a forward pipeline that makes nothing
    /// does not hold every call up for its whole timeout.
    failed_at: Option<std::time::Instant>,
}

const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The ONVIF services of one element.
pub struct OnvifService {
    /// The model without its streams (filled in at the first call that
    /// needs them).
    base: DeviceModel,
    streams: Mutex<Streams>,
    fetch_streams: FetchStreams,
    users: HashMap<String, User>,
    verifier: Mutex<wsse::Verifier>,
}

impl OnvifService {
    pub fn new(base: DeviceModel, users: &[User], fetch_streams: FetchStreams) -> OnvifService {
        OnvifService {
            base,
            streams: Mutex::new(Streams::default()),
            fetch_streams,
            users: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            verifier: Mutex::new(wsse::Verifier::default()),
        }
    }

    /// The model with its forward streams. The first call starts the forward
    /// pipeline to learn them (it then lingers and stops); after a failure
    /// the model goes without them, and the streams are asked for again
    /// [`RETRY_AFTER`] later.
    pub fn model(&self) -> DeviceModel {
        let mut streams = self.streams.lock().unwrap();
        let retry = streams
            .failed_at
            .is_none_or(|at| at.elapsed() >= RETRY_AFTER);
        if streams.known.is_none() && retry {
            match (self.fetch_streams)() {
                Ok(found) => {
                    gst::info!(
                        CAT,
                        "profile streams: video {:?}, audio {:?}",
                        found.0,
                        found.1
                    );
                    streams.known = Some(found);
                    streams.failed_at = None;
                }
                Err(err) => {
                    gst::warning!(
                        CAT,
                        "forward streams unknown, profiles go without them for {RETRY_AFTER:?}: {err}"
                    );
                    streams.failed_at = Some(std::time::Instant::now());
                }
            }
        }
        let mut model = self.base.clone();
        if let Some((video, audio)) = streams.known.as_ref() {
            model.video = video.clone();
            model.audio = audio.clone();
        }
        model
    }

    /// Answers one HTTP request to a service path.
    pub fn handle(&self, request: &Request) -> Response {
        if request.method != "POST" {
            gst::debug!(CAT, "{} {}: only POST, 405", request.method, request.path);
            let mut response = Response::text(405, "ONVIF services take SOAP over POST");
            response.headers.push(("Allow".into(), "POST".into()));
            return response;
        }
        let content_type = request.header("content-type").unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            media_type.as_str(),
            "application/soap+xml" | "text/xml" | "application/xml"
        ) {
            gst::debug!(
                CAT,
                "{}: content type '{content_type}' refused, 415",
                request.path
            );
            return Response::text(
                415,
                "expected application/soap+xml (SOAP 1.2) or text/xml (SOAP 1.1)",
            );
        }
        // The SOAP version to answer in before the envelope is read (or
        // when it cannot be): text/xml is SOAP 1.1's content type.
        let version_of_type = if media_type == "text/xml" {
            SoapVersion::Soap11
        } else {
            SoapVersion::Soap12
        };
        // An empty POST without valid HTTP credentials: a client probing
        // for the digest challenge before it sends the body (curl --digest
        // does). Authentication comes before reading the content.
        if !self.users.is_empty()
            && request.digest_user.is_none()
            && request.body.iter().all(u8::is_ascii_whitespace)
        {
            gst::debug!(
                CAT,
                "{} from {:?}: empty body without valid credentials, 401 with a challenge",
                request.path,
                request.remote
            );
            let mut response = fault(
                401,
                version_of_type,
                FaultCode::Sender,
                &["ter:NotAuthorized"],
                "Sender not authorized",
            );
            response.challenge = true;
            return response;
        }
        let soap = match soap::parse_request(&request.body) {
            Ok(soap) => soap,
            Err(err) => {
                let (subcode, reason) = match &err {
                    SoapError::Malformed(why) => ("ter:WellFormed", why.as_str()),
                    SoapError::NotSoap(why) => ("ter:InvalidArgs", why.as_str()),
                    SoapError::TooLarge(why) => ("ter:InvalidArgs", why.as_str()),
                };
                gst::debug!(
                    CAT,
                    "{} from {:?}: unreadable request: {reason}",
                    request.path,
                    request.remote
                );
                return fault(400, version_of_type, FaultCode::Sender, &[subcode], reason);
            }
        };
        let operation = soap.body.name.as_str();
        let required = access::required_level(&soap.body.ns, operation);

        // Who calls.
        let (level, who) = match self.authenticate(request, &soap) {
            Ok(found) => found,
            Err(refusal) => {
                let (status, why) = match &refusal {
                    Refusal::Token(why) => (400, why),
                    Refusal::Http(why) => (401, why),
                };
                gst::info!(
                    CAT,
                    "{operation} from {:?}: not authorized: {why}",
                    request.remote
                );
                let mut response = fault(
                    status,
                    soap.version,
                    FaultCode::Sender,
                    &["ter:NotAuthorized"],
                    "Sender not authorized",
                );
                // HTTP credentials refused: a 401 with a fresh challenge
                // (stale=true if the request's nonce was stale).
                response.challenge = status == 401;
                return response;
            }
        };
        let (host, http_port) = request.host_and_port();
        let ctx = CallContext {
            scheme: if request.https { "https" } else { "http" }.into(),
            host,
            http_port,
            level,
            now_unix: now_unix_ms() / 1000,
        };
        if level < required {
            // An operation we do not implement does nothing at any level:
            // an authenticated caller learns that (ActionNotSupported, as
            // Core prescribes) rather than NotAuthorized. The services are
            // pure functions of the model, so asking them changes nothing.
            if level >= UserLevel::User {
                let answer = services::answer(&self.base, &soap, &ctx);
                if answer.not_implemented {
                    gst::debug!(
                        CAT,
                        "{operation} from {:?} ({who}): not implemented",
                        request.remote
                    );
                    return Response::new(
                        answer.status,
                        content_type_of(soap.version),
                        answer.body,
                    );
                }
            }
            gst::info!(
                CAT,
                "{operation} from {:?} ({who}): needs {required:?}, caller is {level:?}",
                request.remote
            );
            let mut response = fault(
                if level == UserLevel::Anonymous {
                    401
                } else {
                    400
                },
                soap.version,
                FaultCode::Sender,
                &["ter:NotAuthorized"],
                "Sender not authorized",
            );
            // Anonymous: ask for HTTP digest credentials (ONVIF Core 5.9.1).
            response.challenge = level == UserLevel::Anonymous;
            return response;
        }
        let model = self.model();
        let answer = services::answer(&model, &soap, &ctx);
        gst::debug!(
            CAT,
            "{operation} ({}) from {:?} ({who}, {level:?}): {}",
            soap.body.ns,
            request.remote,
            answer.status
        );
        Response::new(answer.status, content_type_of(soap.version), answer.body)
    }

    /// The caller's level and a name for logs, or why it is refused.
    fn authenticate(
        &self,
        request: &Request,
        soap: &soap::SoapRequest,
    ) -> Result<(UserLevel, String), Refusal> {
        if self.users.is_empty() {
            return Ok((UserLevel::Operator, "anonymous, no users-file".into()));
        }
        if let Some(token) = &soap.username_token {
            let users = &self.users;
            self.verifier
                .lock()
                .unwrap()
                .verify(
                    token,
                    |name| users.get(name).map(|u| u.password.clone()),
                    request.https,
                    now_unix_ms(),
                )
                .map_err(|e| Refusal::Token(format!("user '{}': {e}", token.username)))?;
            let user = &self.users[&token.username];
            return Ok((level_of(user.role), format!("user '{}'", user.name)));
        }
        if let Some(name) = &request.digest_user {
            if let Some(user) = self.users.get(name) {
                return Ok((level_of(user.role), format!("user '{name}' (HTTP digest)")));
            }
        }
        if request.has_authorization {
            // Credentials that did not check out.
            return Err(Refusal::Http(format!(
                "HTTP credentials refused: {}",
                request
                    .digest_refusal
                    .as_deref()
                    .unwrap_or("user not in users-file")
            )));
        }
        Ok((UserLevel::Anonymous, "anonymous".into()))
    }
}

/// Why a caller is refused.
enum Refusal {
    /// A WS-UsernameToken: HTTP 400 and `ter:NotAuthorized` (ONVIF Core).
    Token(String),
    /// HTTP credentials: 401 with a challenge.
    Http(String),
}

fn level_of(role: Role) -> UserLevel {
    match role {
        Role::Viewer => UserLevel::User,
        Role::Talker => UserLevel::Operator,
    }
}

fn content_type_of(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
        SoapVersion::Soap11 => "text/xml; charset=utf-8",
    }
}

fn fault(
    status: u16,
    version: SoapVersion,
    code: FaultCode,
    subcodes: &[&str],
    reason: &str,
) -> Response {
    Response::new(
        status,
        content_type_of(version),
        soap::fault(version, None, code, subcodes, reason),
    )
}

/// Milliseconds since the Unix epoch, UTC: the one clock of
/// GetSystemDateAndTime and of the Created check.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The profile's streams from the forward streams' caps and encoders.
pub fn streams_of(
    descriptions: &[crate::factory::StreamDescription],
) -> (Option<VideoStream>, Option<AudioStream>) {
    use gst::prelude::*;
    let mut video = None;
    let mut audio = None;
    for desc in descriptions {
        let Some(s) = desc.caps.structure(0) else {
            continue;
        };
        let encoder = desc.encoder.as_ref();
        let uint_prop = |name: &str| -> Option<u64> {
            let encoder = encoder?;
            let pspec = encoder.find_property(name)?;
            let value = encoder.property_value(name);
            match pspec.value_type() {
                t if t == u32::static_type() => value.get::<u32>().ok().map(u64::from),
                t if t == i32::static_type() => {
                    value.get::<i32>().ok().and_then(|v| u64::try_from(v).ok())
                }
                t if t == u64::static_type() => value.get::<u64>().ok(),
                t if t == i64::static_type() => {
                    value.get::<i64>().ok().and_then(|v| u64::try_from(v).ok())
                }
                _ => None,
            }
        };
        let encoder_name = encoder
            .and_then(|e| e.factory())
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        let name = s.name().as_str();
        let video_encoding = match name {
            "video/x-h264" => Some("H264"),
            "video/x-h265" => Some("H265"),
            "image/jpeg" => Some("JPEG"),
            "video/mpeg" if s.get::<i32>("mpegversion") == Ok(4) => Some("MPEG4"),
            "video/x-vp8" => Some("VP8"),
            "video/x-vp9" => Some("VP9"),
            "video/x-av1" => Some("AV1"),
            _ => None,
        };
        if let Some(encoding) = video_encoding {
            if video.is_some() {
                continue;
            }
            let framerate = s
                .get::<gst::Fraction>("framerate")
                .ok()
                .filter(|f| f.denom() > 0)
                .map_or(0.0, |f| f.numer() as f64 / f.denom() as f64);
            // Encoders state their bit rate in their own units.
            let bitrate_kbps = match encoder_name.as_str() {
                "x264enc" | "x265enc" | "nvh264enc" | "vaapih264enc" | "v4l2h264enc" => {
                    uint_prop("bitrate")
                }
                "vp8enc" | "vp9enc" => uint_prop("target-bitrate").map(|b| b / 1000),
                "openh264enc" => uint_prop("bitrate").map(|b| b / 1000),
                _ => None,
            };
            let gov_length = ["key-int-max", "keyframe-max-dist", "gop-size"]
                .iter()
                .find_map(|p| uint_prop(p))
                .filter(|g| *g > 0);
            video = Some(VideoStream {
                encoding: encoding.into(),
                width: s.get::<i32>("width").unwrap_or(0).max(0) as u32,
                height: s.get::<i32>("height").unwrap_or(0).max(0) as u32,
                framerate,
                bitrate_kbps: bitrate_kbps.and_then(|b| u32::try_from(b).ok()),
                gov_length: gov_length.and_then(|g| u32::try_from(g).ok()),
                profile: s.get::<String>("profile").ok(),
            });
            continue;
        }
        let audio_encoding = match name {
            "audio/x-mulaw" => Some("PCMU"),
            "audio/x-alaw" => Some("PCMA"),
            "audio/G722" => Some("G722"),
            "audio/x-opus" => Some("opus"),
            "audio/mpeg" if s.get::<i32>("mpegversion") == Ok(4) => Some("mpeg4-generic"),
            "audio/x-adpcm" if s.get::<String>("layout").as_deref() == Ok("g726") => Some("G726"),
            "audio/x-raw" => Some("L16"),
            _ => None,
        };
        if let Some(encoding) = audio_encoding {
            if audio.is_some() {
                continue;
            }
            let sample_rate = s.get::<i32>("rate").unwrap_or(8000).max(0) as u32;
            let bitrate_kbps = match encoding {
                "PCMU" | "PCMA" => Some(64),
                "G722" => Some(64),
                "G726" => s.get::<i32>("bitrate").ok().map(|b| (b / 1000) as u32),
                _ => uint_prop("bitrate").map(|b| (b / 1000) as u32),
            };
            audio = Some(AudioStream {
                encoding: encoding.into(),
                sample_rate,
                bitrate_kbps,
            });
        }
    }
    (video, audio)
}

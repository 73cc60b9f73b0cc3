//! The WHIP endpoint and the push-to-talk page on the element's web server:
//! the glue between [`Whip`] (who may do what, which HTTP answer) and the
//! factory's WebRTC talkers (webrtcbin sessions on the talk floor).
//!
//! - `/whip`: POST answers once ICE gathering is done (some 200 ms): the
//!   request is paused meanwhile, so that the web server's thread goes on
//!   serving ONVIF and other WHIP calls. DELETE answers once the session is
//!   torn down and its seat freed. A GET on a resource is a keepalive.
//! - `/`: the push-to-talk page ([`PAGE`]), which uses `/whip` and nothing
//!   else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;

use super::talker::{Offer, Outcome};
use super::whip::{self, Decision, Whip};
use crate::factory::OnvifBackchannelMediaFactory;
use crate::http::{Request, Responder, Response, Route};

/// The push-to-talk page: one self-contained HTML file.
pub const PAGE: &str = include_str!("page.html");

/// `/whip` and `/` of one element.
pub struct Endpoint {
    whip: Mutex<Whip>,
    factory: glib::WeakRef<OnvifBackchannelMediaFactory>,
    /// DELETEs waiting for their session's teardown.
    deleting: Mutex<HashMap<String, Responder>>,
}

impl Endpoint {
    pub fn new(config: whip::Config, factory: &OnvifBackchannelMediaFactory) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            whip: Mutex::new(Whip::new(config)),
            factory: factory.downgrade(),
            deleting: Mutex::default(),
        })
    }

    /// The web server's routes: `/whip` and the page at `/`. They hold the
    /// endpoint, which lives as long as the web server.
    pub fn routes(self: &Arc<Self>) -> Vec<(String, Route)> {
        let me = self.clone();
        vec![
            (
                whip::ENDPOINT.into(),
                Route::Later(Arc::new(move |request, responder| {
                    me.handle(request, responder)
                })),
            ),
            ("/".into(), Route::Now(Arc::new(page))),
        ]
    }

    fn handle(self: &Arc<Self>, request: &Request, responder: Responder) {
        let decision = self.whip.lock().unwrap().handle(request, Instant::now());
        match decision {
            Decision::Respond(response) => {
                let method = request.method.to_ascii_uppercase();
                if response.status == 200 && (method == "GET" || method == "HEAD") {
                    if let (Some(id), Some(factory)) =
                        (whip::resource_id(&request.path), self.factory.upgrade())
                    {
                        factory.webrtc_touch(&id);
                    }
                }
                responder.respond(response);
            }
            Decision::CreateSession {
                id,
                offer,
                user,
                address,
            } => self.create(request, id, offer, user, address, responder),
            Decision::DeleteSession { id } => {
                // Parked first: the session may end (and `ended` answer)
                // before hang_up returns.
                self.deleting.lock().unwrap().insert(id.clone(), responder);
                let hung_up = self
                    .factory
                    .upgrade()
                    .is_some_and(|factory| factory.webrtc_hang_up(&id));
                if !hung_up {
                    // Already gone: nothing to wait for.
                    self.ended(&id);
                }
            }
        }
    }

    fn create(
        self: &Arc<Self>,
        request: &Request,
        id: String,
        offer: String,
        user: Option<String>,
        peer: Option<std::net::SocketAddr>,
        responder: Responder,
    ) {
        let Some(factory) = self.factory.upgrade() else {
            let response = self.whip.lock().unwrap().failed(&id, 503, "stopping");
            responder.respond(response);
            return;
        };
        gst::info!(
            super::talker::CAT,
            "WHIP session {id}: offer from {peer:?} (user {user:?})"
        );
        let offer = Offer {
            sdp: offer,
            session: id.clone(),
            peer,
            // Candidates on the address the browser reached us on: it can
            // reach that one, and no other interface is disclosed.
            local: request.local.map(|a| unmapped(a.ip())),
        };
        let on_answer = {
            let me: Weak<Endpoint> = Arc::downgrade(self);
            let id = id.clone();
            Box::new(move |outcome: Outcome| {
                let Some(endpoint) = me.upgrade() else {
                    responder.respond(Response::text(503, "stopping"));
                    return;
                };
                let response = {
                    let mut whip = endpoint.whip.lock().unwrap();
                    match outcome {
                        Outcome::Answer(sdp) => whip.created(&id, &sdp),
                        Outcome::Refused { status, reason } => whip.failed(&id, status, &reason),
                    }
                };
                if response.status != 201 {
                    // Refused, or DELETEd while it was being answered.
                    if let Some(factory) = endpoint.factory.upgrade() {
                        factory.webrtc_hang_up(&id);
                    }
                }
                responder.respond(response);
            })
        };
        let on_end = {
            let me = Arc::downgrade(self);
            Box::new(move |session: &str, _reason: &str| {
                if let Some(endpoint) = me.upgrade() {
                    endpoint.ended(session);
                }
            })
        };
        factory.webrtc_offer(offer, on_answer, on_end);
    }

    /// A session ended: answer its DELETE, or forget it.
    fn ended(&self, session: &str) {
        let waiting = self.deleting.lock().unwrap().remove(session);
        let mut whip = self.whip.lock().unwrap();
        match waiting {
            Some(responder) => responder.respond(whip.deleted(session)),
            None => {
                whip.closed(session);
            }
        }
    }
}

/// An IPv4 address from an IPv4-mapped IPv6 one (a server bound on `::`).
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `/`: the push-to-talk page; 404 for anything else that no route took.
fn page(request: &Request) -> Response {
    let method = request.method.to_ascii_uppercase();
    if request.path != "/" && request.path != "/index.html" {
        return Response::text(404, "not found");
    }
    if method != "GET" && method != "HEAD" {
        let mut r = Response::text(405, "GET only");
        r.headers.push(("Allow".into(), "GET, HEAD".into()));
        return r;
    }
    let mut r = Response::new(200, "text/html; charset=utf-8", PAGE);
    r.headers.push(("Cache-Control".into(), "no-store".into()));
    r.headers
        .push(("Permissions-Policy".into(), "microphone=(self)".into()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(unmapped(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(unmapped(v6), v6);
    }

    #[test]
    fn page_only_at_root() {
        let request = |method: &str, path: &str| Request {
            method: method.into(),
            path: path.into(),
            headers: vec![],
            body: vec![],
            https: false,
            remote: None,
            local: None,
            digest_user: None,
            digest_refusal: None,
            digest_stale: false,
            has_authorization: false,
        };
        let r = page(&request("GET", "/"));
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("getUserMedia"));
        assert_eq!(page(&request("GET", "/x")).status, 404);
        assert_eq!(page(&request("POST", "/")).status, 405);
    }
}

//! Starts what `http-port` turns on: the element's web server with the ONVIF
//! services on it, and WS-Discovery. Fills the device model's identity from
//! the machine (host name, first network interface, a stable UUID).

use std::sync::Arc;

use crate::codecs::CodecList;
use crate::http::{self, HttpServer};
use crate::onvif::discovery_socket::{Discovery, DiscoveryConfig};
use crate::onvif::model::DeviceModel;
use crate::onvif::server::{FetchStreams, OnvifService, CAT, SERVICES_PREFIX};
use crate::users::User;

/// What the element tells the web side.
pub struct WebConfig {
    pub address: String,
    /// 0: any free port.
    pub port: u16,
    pub tls_pem: Option<String>,
    pub users: Vec<User>,
    pub discovery: bool,
    pub device_name: String,
    pub device_hardware: String,
    pub rtsp_scheme: String,
    pub rtsp_port: u16,
    pub rtsp_path: String,
    pub codecs: CodecList,
    /// More paths on the same server (WHIP and its page).
    pub routes: Vec<(String, http::Route)>,
}

/// The running web side; dropping it sends Bye and stops the server.
pub struct Web {
    // Declared first: dropped (Bye sent) before the server stops.
    _discovery: Option<Discovery>,
    http: HttpServer,
}

impl Web {
    pub fn start(config: WebConfig, fetch: FetchStreams) -> Result<Web, String> {
        let (interface_name, hw_address) = first_interface().unwrap_or_default();
        let endpoint = crate::onvif::discovery::stable_uuid(
            format!(
                "{}|{}|{}|{}",
                machine_id(),
                hw_address,
                config.rtsp_path,
                config.port
            )
            .as_bytes(),
        );
        let serial = endpoint
            .trim_start_matches("urn:uuid:")
            .split('-')
            .next_back()
            .unwrap_or_default()
            .to_string();
        let base = DeviceModel {
            manufacturer: "GStreamer".into(),
            model: config.device_hardware.clone(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            serial_number: serial,
            hardware_id: config.device_hardware.clone(),
            name: config.device_name.clone(),
            hardware: config.device_hardware.clone(),
            endpoint_reference: endpoint.clone(),
            hostname: gst::glib::host_name().to_string(),
            interface_name,
            hw_address: hw_address.clone(),
            rtsp_scheme: config.rtsp_scheme.clone(),
            rtsp_port: config.rtsp_port,
            rtsp_path: config.rtsp_path.clone(),
            video: None,
            audio: None,
            backchannel: config.codecs.iter().map(|c| c.codec).collect(),
        };
        let service = Arc::new(OnvifService::new(base.clone(), &config.users, fetch));
        let handler: http::Handler = {
            let service = service.clone();
            Arc::new(move |request| service.handle(request))
        };
        let https = config.tls_pem.is_some();
        let http = HttpServer::start(http::Config {
            address: config.address.clone(),
            port: config.port,
            tls_pem: config.tls_pem.clone(),
            digest_users: config
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
            routes: std::iter::once((SERVICES_PREFIX.to_string(), http::Route::Now(handler)))
                .chain(config.routes)
                .collect(),
        })?;
        let port = http.port();
        gst::info!(
            CAT,
            "ONVIF device service at {}://{}:{port}{}",
            if https { "https" } else { "http" },
            config.address,
            crate::onvif::server::DEVICE_PATH
        );
        // Learn the profile's streams now rather than at the first
        // GetProfiles: the forward pipeline starts, and lingers then stops.
        {
            let service = service.clone();
            let _ = std::thread::Builder::new()
                .name("onvifbc-profile".into())
                .spawn(move || {
                    service.model();
                });
        }
        let discovery = if config.discovery {
            let mut discovery_config = DiscoveryConfig::new(
                &endpoint,
                base.scopes(),
                if https { "https" } else { "http" },
                port,
            );
            discovery_config.bind_address = Some(config.address.clone());
            // On the web server's thread: it answers probes from there.
            match Discovery::start(&http.context(), discovery_config) {
                Ok(d) => Some(d),
                Err(err) => {
                    // The services still work for clients given the address.
                    gst::warning!(CAT, "WS-Discovery is off: {err}");
                    None
                }
            }
        } else {
            None
        };
        Ok(Web {
            _discovery: discovery,
            http,
        })
    }

    /// The port the web server listens on.
    pub fn port(&self) -> u16 {
        self.http.port()
    }
}

/// The first network interface that is up and not loopback, with its MAC
/// (what Home Assistant uses as the device's id).
fn first_interface() -> Option<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let dir = format!("/sys/class/net/{name}");
        let flags = std::fs::read_to_string(format!("{dir}/flags")).ok()?;
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
        const IFF_UP: u32 = 0x1;
        const IFF_LOOPBACK: u32 = 0x8;
        if flags & IFF_UP == 0 || flags & IFF_LOOPBACK != 0 {
            return None;
        }
        let mac = std::fs::read_to_string(format!("{dir}/address")).ok()?;
        let mac = mac.trim();
        (mac.len() == 17 && mac != "00:00:00:00:00:00").then(|| (name, mac.to_string()))
    })
}

/// The machine's id (systemd's /etc/machine-id), or the host name.
fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| gst::glib::host_name().to_string())
}

//! Device management service (`tds`, http://www.onvif.org/ver10/device/wsdl):
//! identity, clock, capabilities and the list of services, with XAddrs at
//! the scheme, host and port the caller used.

use super::model::{CallContext, DeviceModel};
use super::services::{param, response, Fault, Reply, VERSION};
use super::soap::{ns, XmlElement};
use super::xml_out::{boolean, XmlOut};

pub(super) fn answer(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    match body.name.as_str() {
        "GetSystemDateAndTime" => system_date_and_time(ctx),
        "SetSystemDateAndTime" => set_system_date_and_time(body),
        "GetCapabilities" => capabilities(model, body, ctx),
        "GetServices" => services(model, body, ctx),
        "GetServiceCapabilities" => response("tds:GetServiceCapabilitiesResponse", &["tds"], |w| {
            device_service_capabilities(w, ctx)
        }),
        "GetDeviceInformation" => response("tds:GetDeviceInformationResponse", &["tds"], |w| {
            w.text_el("tds:Manufacturer", &model.manufacturer);
            w.text_el("tds:Model", &model.model);
            w.text_el("tds:FirmwareVersion", &model.firmware_version);
            w.text_el("tds:SerialNumber", &model.serial_number);
            w.text_el("tds:HardwareId", &model.hardware_id);
        }),
        "GetScopes" => response("tds:GetScopesResponse", &["tds", "tt"], |w| {
            for scope in model.scopes() {
                w.el("tds:Scopes", |w| {
                    w.text_el("tt:ScopeDef", "Fixed");
                    w.text_el("tt:ScopeItem", scope);
                });
            }
        }),
        "GetNetworkInterfaces" => network_interfaces(model, ctx),
        "GetHostname" => response("tds:GetHostnameResponse", &["tds", "tt"], |w| {
            w.el("tds:HostnameInformation", |w| {
                w.text_el("tt:FromDHCP", "false");
                w.text_el("tt:Name", &model.hostname);
            });
        }),
        "GetDNS" => response("tds:GetDNSResponse", &["tds", "tt"], |w| {
            // We do not configure the host's resolver: nothing to list.
            w.el("tds:DNSInformation", |w| {
                w.text_el("tt:FromDHCP", "false");
            });
        }),
        "GetNTP" => response("tds:GetNTPResponse", &["tds", "tt"], |w| {
            w.el("tds:NTPInformation", |w| {
                w.text_el("tt:FromDHCP", "false");
            });
        }),
        "GetNetworkProtocols" => response("tds:GetNetworkProtocolsResponse", &["tds", "tt"], |w| {
            let http = if ctx.scheme == "https" {
                "HTTPS"
            } else {
                "HTTP"
            };
            for (name, port) in [(http, ctx.http_port), ("RTSP", model.rtsp_port)] {
                w.el("tds:NetworkProtocols", |w| {
                    w.text_el("tt:Name", name);
                    w.text_el("tt:Enabled", "true");
                    w.text_el("tt:Port", port);
                });
            }
        }),
        "GetWsdlUrl" => response("tds:GetWsdlUrlResponse", &["tds"], |w| {
            w.text_el("tds:WsdlUrl", "http://www.onvif.org/");
        }),
        "GetEndpointReference" => response("tds:GetEndpointReferenceResponse", &["tds"], |w| {
            w.text_el("tds:GUID", &model.endpoint_reference);
        }),
        op => Err(Fault::not_supported(op)),
    }
}

/// UTC civil date and time of a Unix time (proleptic Gregorian).
pub fn utc_civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    // Days to civil date: shift the epoch to 0000-03-01 so that leap days
    // end each 4/100/400-year cycle.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The system clock, in UTC. DateTimeType is NTP, not Manual: Home
/// Assistant answers Manual by setting our clock (SetSystemDateAndTime).
fn system_date_and_time(ctx: &CallContext) -> Reply {
    let (year, month, day, hour, minute, second) = utc_civil(ctx.now_unix);
    let date_time = |w: &mut XmlOut, name: &str| {
        w.el(name, |w| {
            w.el("tt:Time", |w| {
                w.text_el("tt:Hour", hour);
                w.text_el("tt:Minute", minute);
                w.text_el("tt:Second", second);
            });
            w.el("tt:Date", |w| {
                w.text_el("tt:Year", year);
                w.text_el("tt:Month", month);
                w.text_el("tt:Day", day);
            });
        });
    };
    response("tds:GetSystemDateAndTimeResponse", &["tds", "tt"], |w| {
        w.el("tds:SystemDateAndTime", |w| {
            w.text_el("tt:DateTimeType", "NTP");
            w.text_el("tt:DaylightSavings", "false");
            w.el("tt:TimeZone", |w| {
                w.text_el("tt:TZ", "UTC0");
            });
            date_time(w, "tt:UTCDateTime");
            date_time(w, "tt:LocalDateTime");
        });
    })
}

/// We take the time from the system clock and cannot set it. Asking for
/// NTP (what we report) changes nothing and succeeds; Manual answers
/// `env:Receiver` / `ter:ActionNotSupported` (Core allows it for what a
/// device cannot do; its own faults are about invalid values).
fn set_system_date_and_time(body: &XmlElement) -> Reply {
    match param(body, "DateTimeType") {
        Some("NTP") => response("tds:SetSystemDateAndTimeResponse", &["tds"], |_| {}),
        _ => Err(Fault {
            code: super::services::FaultCode::Receiver,
            subcodes: vec!["ter:ActionNotSupported"],
            reason: "the device uses the system clock (NTP); setting the time is not implemented"
                .into(),
        }),
    }
}

/// GetCapabilities: Device, Media and (for All) Extension/DeviceIO with
/// the audio output count. A category we lack answers `ter:NoSuchService`
/// (Core), unless another asked category is there.
fn capabilities(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    let asked: Vec<&str> = body
        .children
        .iter()
        .filter(|c| c.name == "Category")
        .flat_map(|c| c.text.split_whitespace())
        .collect();
    let all = asked.is_empty() || asked.contains(&"All");
    let device = all || asked.contains(&"Device");
    let media = all || asked.contains(&"Media");
    if !device && !media {
        return Err(Fault::unsupported(
            "ter:NoSuchService",
            format!("no {} capabilities: not implemented", asked.join(" ")),
        ));
    }
    response("tds:GetCapabilitiesResponse", &["tds", "tt"], |w| {
        w.el("tds:Capabilities", |w| {
            if device {
                w.el("tt:Device", |w| {
                    w.text_el("tt:XAddr", ctx.xaddr("device_service"));
                    w.el("tt:Network", |w| {
                        w.text_el("tt:IPFilter", "false");
                        w.text_el("tt:ZeroConfiguration", "false");
                        w.text_el("tt:IPVersion6", "true");
                        w.text_el("tt:DynDNS", "false");
                    });
                    w.el("tt:System", |w| {
                        w.text_el("tt:DiscoveryResolve", "false");
                        w.text_el("tt:DiscoveryBye", "true");
                        w.text_el("tt:RemoteDiscovery", "false");
                        w.text_el("tt:SystemBackup", "false");
                        w.text_el("tt:SystemLogging", "false");
                        w.text_el("tt:FirmwareUpgrade", "false");
                        w.el("tt:SupportedVersions", |w| {
                            w.text_el("tt:Major", VERSION.0);
                            w.text_el("tt:Minor", VERSION.1);
                        });
                    });
                    w.el("tt:IO", |w| {
                        w.text_el("tt:InputConnectors", 0);
                        w.text_el("tt:RelayOutputs", 0);
                    });
                    w.el("tt:Security", |w| {
                        w.text_el("tt:TLS1.1", "false");
                        w.text_el("tt:TLS1.2", boolean(ctx.scheme == "https"));
                        w.text_el("tt:OnboardKeyGeneration", "false");
                        w.text_el("tt:AccessPolicyConfig", "false");
                        w.text_el("tt:X.509Token", "false");
                        w.text_el("tt:SAMLToken", "false");
                        w.text_el("tt:KerberosToken", "false");
                        w.text_el("tt:RELToken", "false");
                    });
                });
            }
            if media {
                w.el("tt:Media", |w| {
                    w.text_el("tt:XAddr", ctx.xaddr("media_service"));
                    w.el("tt:StreamingCapabilities", |w| {
                        w.text_el("tt:RTPMulticast", "false");
                        w.text_el("tt:RTP_TCP", "true");
                        w.text_el("tt:RTP_RTSP_TCP", "true");
                    });
                });
            }
            if all {
                // The ONVIF sign of a back channel: an audio output.
                w.el("tt:Extension", |w| {
                    w.el("tt:DeviceIO", |w| {
                        w.text_el("tt:XAddr", ctx.xaddr("deviceio_service"));
                        for (name, count) in io_counts(model) {
                            w.text_el(&format!("tt:{name}"), count);
                        }
                    });
                });
            }
        });
    })
}

/// How many video sources, video outputs, audio sources, audio outputs
/// (the back channel) and relays the device has, in schema order.
fn io_counts(model: &DeviceModel) -> [(&'static str, u32); 5] {
    [
        ("VideoSources", u32::from(model.video.is_some())),
        ("VideoOutputs", 0),
        ("AudioSources", u32::from(model.audio.is_some())),
        ("AudioOutputs", u32::from(model.has_audio_output())),
        ("RelayOutputs", 0),
    ]
}

/// The DeviceIO service capabilities as attributes (tmd:Capabilities).
pub(super) fn deviceio_capabilities(model: &DeviceModel, w: &mut XmlOut, declare: bool) {
    let counts: Vec<(&str, String)> = io_counts(model)
        .iter()
        .map(|(n, c)| (*n, c.to_string()))
        .collect();
    let mut attrs: Vec<(&str, &str)> = counts.iter().map(|(n, c)| (*n, c.as_str())).collect();
    attrs.extend([
        ("SerialPorts", "0"),
        ("DigitalInputs", "0"),
        ("DigitalInputOptions", "false"),
    ]);
    if declare {
        attrs.push(("xmlns:tmd", ns::DEVICEIO));
    }
    w.empty("tmd:Capabilities", &attrs);
}

/// tds:Capabilities of the device service (GetServiceCapabilities, and
/// GetServices with IncludeCapability).
fn device_service_capabilities(w: &mut XmlOut, ctx: &CallContext) {
    let tls = boolean(ctx.scheme == "https");
    w.el("tds:Capabilities", |w| {
        w.empty(
            "tds:Network",
            &[
                ("IPFilter", "false"),
                ("ZeroConfiguration", "false"),
                ("IPVersion6", "true"),
                ("DynDNS", "false"),
                ("Dot11Configuration", "false"),
                ("HostnameFromDHCP", "false"),
                ("NTP", "0"),
            ],
        );
        w.empty(
            "tds:Security",
            &[
                ("TLS1.0", "false"),
                ("TLS1.1", "false"),
                ("TLS1.2", tls),
                ("OnboardKeyGeneration", "false"),
                ("AccessPolicyConfig", "false"),
                ("DefaultAccessPolicy", "false"),
                ("Dot1X", "false"),
                ("RemoteUserHandling", "false"),
                ("X.509Token", "false"),
                ("SAMLToken", "false"),
                ("KerberosToken", "false"),
                ("UsernameToken", "true"),
                ("HttpDigest", "true"),
                ("RELToken", "false"),
            ],
        );
        w.empty(
            "tds:System",
            &[
                ("DiscoveryResolve", "false"),
                ("DiscoveryBye", "true"),
                ("RemoteDiscovery", "false"),
                ("SystemBackup", "false"),
                ("SystemLogging", "false"),
                ("FirmwareUpgrade", "false"),
            ],
        );
    });
}

/// GetServices: Device, Media, Media2 and DeviceIO (capital IO, as the
/// namespace is spelled), with their capabilities if asked.
fn services(model: &DeviceModel, body: &XmlElement, ctx: &CallContext) -> Reply {
    let include = matches!(param(body, "IncludeCapability"), Some("true" | "1"));
    response("tds:GetServicesResponse", &["tds", "tt"], |w| {
        let service = |w: &mut XmlOut, namespace: &str, path: &str, caps: &dyn Fn(&mut XmlOut)| {
            w.el("tds:Service", |w| {
                w.text_el("tds:Namespace", namespace);
                w.text_el("tds:XAddr", ctx.xaddr(path));
                if include {
                    w.el("tds:Capabilities", |w| caps(w));
                }
                w.el("tds:Version", |w| {
                    w.text_el("tt:Major", VERSION.0);
                    w.text_el("tt:Minor", VERSION.1);
                });
            });
        };
        service(w, ns::DEVICE, "device_service", &|w| {
            device_service_capabilities(w, ctx)
        });
        service(w, ns::MEDIA, "media_service", &|w| {
            super::media::service_capabilities(model, w, true)
        });
        service(w, ns::MEDIA2, "media2_service", &|w| {
            super::media2::service_capabilities(model, w, true)
        });
        service(w, ns::DEVICEIO, "deviceio_service", &|w| {
            deviceio_capabilities(model, w, true)
        });
    })
}

/// The interface the caller reached us on: its name and MAC (Home
/// Assistant's device id), and the IPv4 address the caller used (a
/// /32: we do not know the network's prefix).
fn network_interfaces(model: &DeviceModel, ctx: &CallContext) -> Reply {
    let ipv4 = ctx.host.parse::<std::net::Ipv4Addr>().ok();
    response("tds:GetNetworkInterfacesResponse", &["tds", "tt"], |w| {
        w.el_attrs(
            "tds:NetworkInterfaces",
            &[("token", &model.interface_name)],
            |w| {
                w.text_el("tt:Enabled", "true");
                w.el("tt:Info", |w| {
                    w.text_el("tt:Name", &model.interface_name);
                    w.text_el("tt:HwAddress", &model.hw_address);
                    w.text_el("tt:MTU", 1500);
                });
                if let Some(ip) = ipv4 {
                    w.el("tt:IPv4", |w| {
                        w.text_el("tt:Enabled", "true");
                        w.el("tt:Config", |w| {
                            w.el("tt:Manual", |w| {
                                w.text_el("tt:Address", ip);
                                w.text_el("tt:PrefixLength", 32);
                            });
                            w.text_el("tt:DHCP", "false");
                        });
                    });
                }
            },
        );
    })
}

#[cfg(test)]
mod tests {
    use super::super::services::test_util::*;
    use super::*;
    use crate::onvif::model::UserLevel;

    const TT: &str = ns::SCHEMA;
    const TDS: &str = ns::DEVICE;

    #[test]
    fn civil_dates() {
        assert_eq!(utc_civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc_civil(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(utc_civil(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(utc_civil(4_107_542_399), (2100, 2, 28, 23, 59, 59));
    }

    #[test]
    fn system_date_and_time_is_utc_and_ntp() {
        let r = ok(
            &DeviceModel::default(),
            &request(TDS, "GetSystemDateAndTime", vec![]),
            &ctx(UserLevel::Anonymous),
        );
        assert_eq!(r.get(TT, "DateTimeType").text, "NTP");
        let utc = r.get(TT, "UTCDateTime");
        assert_eq!(utc.get(TT, "Year").text, "2023");
        assert_eq!(utc.get(TT, "Hour").text, "22");
        assert_eq!(utc.get(TT, "Second").text, "20");
    }

    #[test]
    fn set_system_date_and_time() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Administrator);
        let manual = request(
            TDS,
            "SetSystemDateAndTime",
            vec![el(TDS, "DateTimeType", "Manual", vec![])],
        );
        let (status, codes) = fault(&model, &manual, &c);
        assert_eq!((status, codes.len()), (500, 2));
        let ntp = request(
            TDS,
            "SetSystemDateAndTime",
            vec![el(TDS, "DateTimeType", "NTP", vec![])],
        );
        ok(&model, &ntp, &c);
    }

    #[test]
    fn capabilities_carry_caller_host_and_audio_output() {
        let model = DeviceModel::default();
        let mut c = ctx(UserLevel::Anonymous);
        c.host = "2001:db8::5".into();
        c.scheme = "https".into();
        let r = ok(&model, &request(TDS, "GetCapabilities", vec![]), &c);
        assert_eq!(
            r.get(TT, "Media").get(TT, "XAddr").text,
            "https://[2001:db8::5]:8080/onvif/media_service"
        );
        let dio = r.get(TT, "Extension").get(TT, "DeviceIO");
        assert_eq!(dio.get(TT, "AudioOutputs").text, "1");
        assert_eq!(
            dio.names(),
            [
                "XAddr",
                "VideoSources",
                "VideoOutputs",
                "AudioSources",
                "AudioOutputs",
                "RelayOutputs"
            ]
        );
        assert_eq!(
            r.get(TT, "Device").names(),
            ["XAddr", "Network", "System", "IO", "Security"]
        );

        // Media only (rsp-backchannel's call).
        let media = request(
            TDS,
            "GetCapabilities",
            vec![el(TDS, "Category", "Media", vec![])],
        );
        let r = ok(&model, &media, &c);
        let caps = r.get(TDS, "Capabilities");
        assert_eq!(caps.names(), ["Media"]);

        // PTZ only: no such service.
        let ptz = request(
            TDS,
            "GetCapabilities",
            vec![el(TDS, "Category", "PTZ", vec![])],
        );
        let (status, codes) = fault(&model, &ptz, &c);
        assert_eq!(status, 500);
        assert_eq!(codes.last().unwrap(), "ter:NoSuchService");
    }

    #[test]
    fn no_back_channel_no_audio_output() {
        let model = DeviceModel {
            backchannel: vec![],
            ..DeviceModel::default()
        };
        let r = ok(
            &model,
            &request(TDS, "GetCapabilities", vec![]),
            &ctx(UserLevel::User),
        );
        assert_eq!(r.get(TT, "AudioOutputs").text, "0");
    }

    #[test]
    fn services_list_media2_and_deviceio() {
        let model = DeviceModel::default();
        let c = ctx(UserLevel::Anonymous);
        let with = request(
            TDS,
            "GetServices",
            vec![el(TDS, "IncludeCapability", "true", vec![])],
        );
        let r = ok(&model, &with, &c);
        let services = r.find_all(TDS, "Service");
        let namespaces: Vec<_> = services
            .iter()
            .map(|s| s.get(TDS, "Namespace").text.as_str())
            .collect();
        assert_eq!(
            namespaces,
            [ns::DEVICE, ns::MEDIA, ns::MEDIA2, ns::DEVICEIO]
        );
        assert_eq!(
            services[3].get(TDS, "XAddr").text,
            "http://192.0.2.10:8080/onvif/deviceio_service"
        );
        let dio = services[3].get(ns::DEVICEIO, "Capabilities");
        assert_eq!(dio.attr("AudioOutputs"), Some("1"));
        let m2 = services[2].get(ns::MEDIA2, "ProfileCapabilities");
        let supported = m2.attr("ConfigurationsSupported").unwrap();
        assert!(supported.contains("AudioOutput"));
        assert!(supported.contains("AudioDecoder"));
        assert!(!supported.contains("All"));
        assert_eq!(
            services[2]
                .get(ns::MEDIA2, "StreamingCapabilities")
                .attr("RTSPStreaming"),
            Some("true")
        );
        for s in &services {
            assert_eq!(s.names(), ["Namespace", "XAddr", "Capabilities", "Version"]);
            // One service capabilities element inside the wrapper.
            assert_eq!(s.child(TDS, "Capabilities").unwrap().children.len(), 1);
        }

        let without = request(
            TDS,
            "GetServices",
            vec![el(TDS, "IncludeCapability", "false", vec![])],
        );
        let r = ok(&model, &without, &c);
        for s in r.find_all(TDS, "Service") {
            assert_eq!(s.names(), ["Namespace", "XAddr", "Version"]);
        }
    }

    #[test]
    fn identity_scopes_and_network() {
        let model = DeviceModel {
            manufacturer: "A & B".into(),
            hw_address: "02:00:00:00:00:01".into(),
            ..DeviceModel::default()
        };
        let c = ctx(UserLevel::User);
        let r = ok(&model, &request(TDS, "GetDeviceInformation", vec![]), &c);
        assert_eq!(r.get(TDS, "Manufacturer").text, "A & B");
        assert_eq!(
            r.names(),
            [
                "Manufacturer",
                "Model",
                "FirmwareVersion",
                "SerialNumber",
                "HardwareId"
            ]
        );

        let r = ok(&model, &request(TDS, "GetScopes", vec![]), &c);
        let items: Vec<_> = r
            .find_all(TT, "ScopeItem")
            .iter()
            .map(|s| s.text.clone())
            .collect();
        assert!(items.contains(&"onvif://www.onvif.org/Profile/Streaming".into()));
        assert!(items.contains(&"onvif://www.onvif.org/Profile/T".into()));

        let r = ok(&model, &request(TDS, "GetNetworkInterfaces", vec![]), &c);
        let nic = r.get(TDS, "NetworkInterfaces");
        assert_eq!(nic.get(TT, "Enabled").text, "true");
        assert_eq!(nic.get(TT, "HwAddress").text, "02:00:00:00:00:01");
        assert_eq!(nic.get(TT, "Address").text, "192.0.2.10");

        let mut c6 = c.clone();
        c6.host = "fe80::1".into();
        let r = ok(&model, &request(TDS, "GetNetworkInterfaces", vec![]), &c6);
        assert!(r.find(TT, "IPv4").is_none());

        for op in [
            "GetHostname",
            "GetDNS",
            "GetNTP",
            "GetNetworkProtocols",
            "GetWsdlUrl",
            "GetEndpointReference",
            "GetServiceCapabilities",
        ] {
            ok(&model, &request(TDS, op, vec![]), &c);
        }
        let r = ok(&model, &request(TDS, "GetNetworkProtocols", vec![]), &c);
        let ports: Vec<_> = r
            .find_all(TT, "Port")
            .iter()
            .map(|p| p.text.clone())
            .collect();
        assert_eq!(ports, ["8080", "8554"]);
    }
}

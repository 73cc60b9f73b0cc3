//! Which ONVIF user level an operation needs, after the Core
//! specification's default access policy: PRE_AUTH operations are open to
//! anyone, READ_SYSTEM and READ_MEDIA need a User, ACTUATE (media and audio
//! configuration changes, relays) an Operator, and WRITE_SYSTEM,
//! UNRECOVERABLE and READ_SYSTEM_SECRET an Administrator.
//!
//! The rules go by name pattern rather than a list of every operation, so
//! that an operation nobody listed gets a sensible level, and they fail
//! closed: an unknown operation that is not a getter needs an
//! Administrator, except in the media and DeviceIO services, where
//! configuration changes are the Operator's (a `talker`).

use super::model::UserLevel;
use super::soap::ns;

/// Open to anyone (Core's PRE_AUTH class): what a client needs before it
/// can authenticate (the clock for Created, where the services are).
/// GetServiceCapabilities is PRE_AUTH in every service.
const PRE_AUTH: &[&str] = &[
    "GetSystemDateAndTime",
    "GetCapabilities",
    "GetServices",
    "GetServiceCapabilities",
    "GetWsdlUrl",
    "GetHostname",
    "GetEndpointReference",
];

/// Device management operations that change the system, cannot be undone
/// or read secrets. They are the Administrator's in *any* namespace, so
/// that a service routing on the local name alone cannot be talked into
/// running one of them for an Operator through a media namespace.
const ADMINISTRATOR_ANYWHERE: &[&str] = &[
    // UNRECOVERABLE
    "SystemReboot",
    "SetSystemFactoryDefault",
    "UpgradeSystemFirmware",
    "StartFirmwareUpgrade",
    "StartSystemRestore",
    "RestoreSystem",
    // WRITE_SYSTEM
    "SetSystemDateAndTime",
    "SetHostname",
    "SetHostnameFromDHCP",
    "SetScopes",
    "AddScopes",
    "RemoveScopes",
    "SetDiscoveryMode",
    "SetRemoteDiscoveryMode",
    "CreateUsers",
    "DeleteUsers",
    "SetUser",
    "SetRemoteUser",
    "SetAccessPolicy",
    "SetNetworkInterfaces",
    "SetNetworkProtocols",
    "SetNetworkDefaultGateway",
    "SetDNS",
    "SetNTP",
    "SetDynamicDNS",
    "SetZeroConfiguration",
    "SetIPAddressFilter",
    "AddIPAddressFilter",
    "RemoveIPAddressFilter",
    // READ_SYSTEM_SECRET
    "GetUsers",
    "GetRemoteUser",
    "GetAccessPolicy",
    "GetSystemLog",
    "GetSystemSupportInformation",
    "GetSystemBackup",
];

/// Device service operations that act rather than configure (ACTUATE).
const DEVICE_ACTUATE: &[&str] = &["SetRelayOutputState", "SendAuxiliaryCommand"];

/// The lowest user level that may call `operation` (the local name of the
/// Body's first child) in the service namespace `ns`.
pub fn required_level(ns: &str, operation: &str) -> UserLevel {
    if PRE_AUTH.contains(&operation) {
        return UserLevel::Anonymous;
    }
    if ADMINISTRATOR_ANYWHERE.contains(&operation) {
        return UserLevel::Administrator;
    }
    let getter = operation.starts_with("Get");
    match ns {
        ns::DEVICE if DEVICE_ACTUATE.contains(&operation) => UserLevel::Operator,
        // READ_SYSTEM getters; every other device change is WRITE_SYSTEM.
        ns::DEVICE if getter => UserLevel::User,
        ns::DEVICE => UserLevel::Administrator,
        // READ_MEDIA getters; Add/Remove/Set/Create/Delete of profiles and
        // configurations (the audio output among them) and multicast
        // start/stop are ACTUATE.
        ns::MEDIA | ns::MEDIA2 | ns::DEVICEIO if getter => UserLevel::User,
        ns::MEDIA | ns::MEDIA2 | ns::DEVICEIO => UserLevel::Operator,
        // Services we do not serve (events, PTZ, imaging...) or no
        // namespace: a getter reads, anything else may write.
        _ if getter => UserLevel::User,
        _ => UserLevel::Administrator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UserLevel::*;

    const EVENTS: &str = "http://www.onvif.org/ver10/events/wsdl";

    #[test]
    fn pre_auth_operations_are_open() {
        for op in [
            "GetSystemDateAndTime",
            "GetCapabilities",
            "GetServices",
            "GetServiceCapabilities",
            "GetWsdlUrl",
            "GetHostname",
            "GetEndpointReference",
        ] {
            assert_eq!(required_level(ns::DEVICE, op), Anonymous, "{op}");
        }
        for service in [ns::MEDIA, ns::MEDIA2, ns::DEVICEIO, EVENTS] {
            assert_eq!(required_level(service, "GetServiceCapabilities"), Anonymous);
        }
    }

    #[test]
    fn getters_need_a_user() {
        for (service, op) in [
            (ns::DEVICE, "GetDeviceInformation"),
            (ns::DEVICE, "GetScopes"),
            (ns::DEVICE, "GetNetworkInterfaces"),
            (ns::DEVICE, "GetNTP"),
            (ns::MEDIA, "GetProfiles"),
            (ns::MEDIA, "GetStreamUri"),
            (ns::MEDIA, "GetVideoSources"),
            (ns::MEDIA, "GetAudioOutputs"),
            (ns::MEDIA, "GetAudioOutputConfigurations"),
            (ns::MEDIA, "GetAudioDecoderConfigurationOptions"),
            (ns::MEDIA, "GetCompatibleAudioOutputConfigurations"),
            (ns::MEDIA2, "GetProfiles"),
            (ns::MEDIA2, "GetStreamUri"),
            (ns::MEDIA2, "GetAudioDecoderConfigurationOptions"),
            (ns::DEVICEIO, "GetAudioOutputs"),
            (ns::DEVICEIO, "GetAudioOutputConfigurationOptions"),
            (EVENTS, "GetEventProperties"),
            ("", "GetProfiles"),
        ] {
            assert_eq!(required_level(service, op), User, "{service} {op}");
        }
    }

    #[test]
    fn media_and_audio_changes_need_an_operator() {
        for (service, op) in [
            (ns::MEDIA, "AddAudioOutputConfiguration"),
            (ns::MEDIA, "RemoveAudioOutputConfiguration"),
            (ns::MEDIA, "AddAudioDecoderConfiguration"),
            (ns::MEDIA, "RemoveAudioDecoderConfiguration"),
            (ns::MEDIA, "SetAudioOutputConfiguration"),
            (ns::MEDIA, "SetAudioDecoderConfiguration"),
            (ns::MEDIA, "SetVideoEncoderConfiguration"),
            (ns::MEDIA, "CreateProfile"),
            (ns::MEDIA, "DeleteProfile"),
            (ns::MEDIA, "StartMulticastStreaming"),
            (ns::MEDIA2, "AddConfiguration"),
            (ns::MEDIA2, "RemoveConfiguration"),
            (ns::MEDIA2, "SetAudioOutputConfiguration"),
            (ns::MEDIA2, "SetAudioDecoderConfiguration"),
            (ns::DEVICEIO, "SetAudioOutputConfiguration"),
            (ns::DEVICEIO, "SetRelayOutputState"),
            (ns::DEVICE, "SetRelayOutputState"),
            (ns::DEVICE, "SendAuxiliaryCommand"),
        ] {
            assert_eq!(required_level(service, op), Operator, "{service} {op}");
        }
    }

    #[test]
    fn system_changes_and_secrets_need_an_administrator() {
        for op in [
            "SetSystemDateAndTime",
            "SetHostname",
            "SystemReboot",
            "SetSystemFactoryDefault",
            "CreateUsers",
            "DeleteUsers",
            "SetUser",
            "SetScopes",
            "AddScopes",
            "RemoveScopes",
            "SetNTP",
            "SetDNS",
            "SetNetworkInterfaces",
            "SetDiscoveryMode",
            "GetUsers",
            "GetSystemLog",
            "GetSystemSupportInformation",
            // Device changes nobody listed are the Administrator's too.
            "SetGeoLocation",
            "LoadCertificates",
            "CreateStorageConfiguration",
        ] {
            assert_eq!(required_level(ns::DEVICE, op), Administrator, "{op}");
        }
    }

    #[test]
    fn device_operations_stay_administrative_in_other_namespaces() {
        for service in [ns::MEDIA, ns::MEDIA2, ns::DEVICEIO, EVENTS, ""] {
            for op in [
                "SetSystemDateAndTime",
                "SystemReboot",
                "CreateUsers",
                "GetUsers",
            ] {
                assert_eq!(required_level(service, op), Administrator, "{service} {op}");
            }
        }
        // Unknown services: writes are the Administrator's.
        assert_eq!(required_level(EVENTS, "Subscribe"), Administrator);
        assert_eq!(required_level("urn:x", "ContinuousMove"), Administrator);
    }

    #[test]
    fn only_the_pre_auth_list_is_anonymous() {
        let services = [ns::DEVICE, ns::MEDIA, ns::MEDIA2, ns::DEVICEIO, EVENTS, ""];
        let ops = [
            "GetDeviceInformation",
            "GetProfiles",
            "GetStreamUri",
            "GetSnapshotUri",
            "GetUsers",
            "getsystemdateandtime",
            "GetSystemDateAndTimeX",
            "",
            "Get",
            "SetSystemDateAndTime",
        ];
        for service in services {
            for op in ops {
                assert_ne!(required_level(service, op), Anonymous, "{service} {op:?}");
            }
        }
    }
}

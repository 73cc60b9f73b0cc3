//! Embedding the ONVIF back channel media factory in a Rust gst-rtsp-server
//! application, the way a C or Python one does: load the installed plugin,
//! create the factory by its type name.
//!
//! ```text
//! cargo build --release --examples
//! GST_PLUGIN_PATH=$PWD/target/release target/release/examples/embed [--port N] [--forward-linger MS] [OUTPUT]
//! ```
//!
//! Mounts the factory at /stream on a GstRTSPOnvifServer listening on
//! 127.0.0.1 (port 0: any free port) and prints
//! `listening on rtsp://127.0.0.1:PORT/stream`. OUTPUT is the factory's
//! `output` pipeline description (default `audioconvert ! audioresample !
//! autoaudiosink`). Talk events are printed as they come (`talk-event
//! started: <structure>`). SIGINT or SIGTERM stop the output pipeline (so a
//! filesink flushes) and exit.
//!
//! A Rust application can also link this crate and use
//! `gstonvifbackchannel::OnvifBackchannelMediaFactory::default()` after
//! registering the plugin statically (`gstonvifbackchannel::plugin_register_static()`).

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const LAUNCH: &str =
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
    ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 \
    audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=8000,channels=1 \
    ! mulawenc ! rtppcmupay name=pay1 pt=0 )";

// POSIX signal numbers.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

struct Args {
    port: String,
    output: Option<String>,
    /// The factory's `forward-linger` (ms), if given.
    forward_linger: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    const USAGE: &str = "usage: embed [--port N] [--forward-linger MS] [OUTPUT-PIPELINE]";
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        port: "0".to_string(),
        output: None,
        forward_linger: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => parsed.port = args.next().ok_or("--port needs a value")?,
            "--forward-linger" => {
                let ms = args.next().ok_or("--forward-linger needs a value")?;
                parsed.forward_linger = Some(ms.parse().map_err(|_| USAGE)?);
            }
            o if !o.starts_with('-') && parsed.output.is_none() => {
                parsed.output = Some(o.to_string())
            }
            _ => return Err(USAGE.into()),
        }
    }
    Ok(parsed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        port,
        output,
        forward_linger,
    } = parse_args()?;
    gst::init()?;

    // Registers GstOnvifBackchannelMediaFactory.
    gst::Plugin::load_by_name("onvifbackchannel").map_err(|_| {
        "cannot load the onvifbackchannel plugin: install it or point \
         GST_PLUGIN_PATH at the directory holding libgstonvifbackchannel.so"
    })?;
    let factory_type = glib::Type::from_name("GstOnvifBackchannelMediaFactory")
        .ok_or("the plugin did not register GstOnvifBackchannelMediaFactory")?;
    let factory = glib::Object::with_type(factory_type)
        .downcast::<gst_rtsp_server::RTSPMediaFactory>()
        .map_err(|_| "GstOnvifBackchannelMediaFactory is not a GstRTSPMediaFactory")?;
    factory.set_launch(LAUNCH);
    if let Some(output) = &output {
        factory.set_property("output", output);
    }
    if let Some(ms) = forward_linger {
        factory.set_property("forward-linger", ms);
    }
    // From a streaming thread.
    factory.connect("talk-event", false, |args| {
        let event = args[1].get::<gst::Structure>().ok()?;
        let kind = event.get::<&str>("event").unwrap_or("?");
        println!("talk-event {kind}: {event}");
        None
    });
    factory.connect("output-error", false, |args| {
        eprintln!("output error: {}", args[1].get::<&str>().unwrap_or("?"));
        None
    });

    // A plain GstRTSPServer answers 551 to the back channel's Require header.
    let server = gst_rtsp_server::RTSPOnvifServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    server
        .mount_points()
        .ok_or("the server has no mount points")?
        .add_factory("/stream", factory.clone());

    let main_loop = glib::MainLoop::new(None, false);
    let source = server
        .attach(None)
        .map_err(|_| format!("cannot listen on 127.0.0.1:{port}"))?;
    println!(
        "listening on rtsp://127.0.0.1:{}/stream",
        server.bound_port()
    );

    // Remove the sessions of clients that went silent (this releases their
    // talk floor); every gst-rtsp-server application should do this.
    if let Some(pool) = server.session_pool() {
        glib::timeout_add_seconds(2, move || {
            pool.cleanup();
            glib::ControlFlow::Continue
        });
    }

    for signum in [SIGINT, SIGTERM] {
        let main_loop = main_loop.clone();
        glib_unix::unix_signal_add(signum, move || {
            main_loop.quit();
            glib::ControlFlow::Continue
        });
    }
    main_loop.run();

    // Stop the output first: its sink closes (a filesink flushes) even if a
    // client still holds a media of this factory.
    if let Some(output) = factory.property::<Option<gst::Pipeline>>("output-pipeline") {
        let _ = output.set_state(gst::State::Null);
    }
    source.remove();
    println!("stopped");
    Ok(())
}

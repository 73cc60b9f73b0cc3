#!/usr/bin/python3
"""Embedding the ONVIF back channel media factory in a Python (PyGObject)
gst-rtsp-server application.

    /usr/bin/python3 examples/python/embed.py [--port N] [OUTPUT]

Needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0. Loads the
onvifbackchannel plugin (from GST_PLUGIN_PATH or the installed plugin dir),
creates a GstOnvifBackchannelMediaFactory by type name, mounts it at /stream
on a GstRTSPOnvifServer listening on 127.0.0.1 (port 0: any free port) and
prints

    listening on rtsp://127.0.0.1:PORT/stream

and what an application's own ONVIF server would advertise for the back
channel (the factory's `onvif-audio-output` and `stream-uri`).

OUTPUT is the factory's `output` pipeline description, e.g.
"audioconvert ! audioresample ! autoaudiosink" (the default). Talk events are
printed as they come ("talk-event started: <structure>"). SIGINT or SIGTERM
stop the output pipeline (so a filesink flushes) and exit.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, GObject, Gst, GstRtspServer  # noqa: E402

LAUNCH = (
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 "
    "! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 "
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=8000,channels=1 "
    "! mulawenc ! rtppcmupay name=pay1 pt=0 )"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", default="0")
    parser.add_argument("output", nargs="?", help="output pipeline description")
    args = parser.parse_args()

    Gst.init(None)
    # Registers GstOnvifBackchannelMediaFactory.
    if Gst.Plugin.load_by_name("onvifbackchannel") is None:
        sys.exit("cannot load the onvifbackchannel plugin: install it or point "
                 "GST_PLUGIN_PATH at the directory holding libgstonvifbackchannel.so")

    factory = GObject.new(GObject.type_from_name("GstOnvifBackchannelMediaFactory"))
    factory.set_launch(LAUNCH)
    if args.output:
        factory.set_property("output", args.output)

    # From a streaming thread.
    def on_talk_event(_factory, event):
        print(f"talk-event {event.get_string('event')}: {event.to_string()}", flush=True)

    factory.connect("talk-event", on_talk_event)
    factory.connect("output-error", lambda _f, message: print(f"output error: {message}",
                                                              file=sys.stderr))

    # A plain GstRTSPServer answers 551 to the back channel's Require header.
    server = GstRtspServer.RTSPOnvifServer.new()
    server.set_address("127.0.0.1")
    server.set_service(args.port)
    server.get_mount_points().add_factory("/stream", factory)

    loop = GLib.MainLoop()
    source = server.attach(None)
    if not source:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print(f"listening on rtsp://127.0.0.1:{server.get_bound_port()}/stream", flush=True)

    # For an application with its own ONVIF server: what it advertises for
    # the back channel (GetStreamUri, GetAudioDecoderConfigurationOptions of
    # Media and Media2). The host is the one the ONVIF client used.
    uri = factory.emit("stream-uri", server, "/stream", "127.0.0.1")
    audio_output = factory.get_property("onvif-audio-output")
    print(f"onvif stream uri: {uri}", flush=True)
    print(f"onvif encodings: {audio_output.get_string('encodings')}", flush=True)
    print("onvif media1 decoder options: "
          f"{audio_output.get_string('media1-decoder-options')}", flush=True)
    print("onvif media2 decoder options: "
          f"{audio_output.get_string('media2-decoder-options')}", flush=True)

    def on_signal():
        loop.quit()
        return GLib.SOURCE_CONTINUE

    # Remove the sessions of clients that went silent (this releases their
    # talk floor); every gst-rtsp-server application should do this.
    pool = server.get_session_pool()
    GLib.timeout_add_seconds(2, lambda: pool.cleanup() >= 0)

    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)
    loop.run()

    # Stop the output first: its sink closes (a filesink flushes) even if a
    # client still holds a media of this factory.
    output = factory.get_property("output-pipeline")
    if output is not None:
        output.set_state(Gst.State.NULL)
    GLib.source_remove(source)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()

/* Embedding the ONVIF back channel media factory in a C gst-rtsp-server
 * application.
 *
 *   embed-c [--port N] [OUTPUT]
 *
 * Loads the onvifbackchannel plugin (from GST_PLUGIN_PATH or the installed
 * plugin dir), creates a GstOnvifBackchannelMediaFactory by type name, mounts
 * it at /stream on a GstRTSPOnvifServer listening on 127.0.0.1 (port 0: any
 * free port) and prints
 *
 *   listening on rtsp://127.0.0.1:PORT/stream
 *
 * OUTPUT is the factory's `output` pipeline description, e.g.
 * "audioconvert ! audioresample ! autoaudiosink" (the default). Talk events
 * are printed as they come ("talk-event started: <structure>"). SIGINT or
 * SIGTERM stop the output pipeline (so a filesink flushes) and exit.
 *
 * Built by meson (`meson compile -C build embed-c`); plain build:
 *   cc embed.c -o embed-c $(pkg-config --cflags --libs gstreamer-rtsp-server-1.0)
 */
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-onvif-server.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAUNCH \
  "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 " \
  "! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! rtpvp8pay name=pay0 pt=96 " \
  "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=8000,channels=1 " \
  "! mulawenc ! rtppcmupay name=pay1 pt=0 )"

/* From a streaming thread. */
static void
on_talk_event (GstRTSPMediaFactory * factory, GstStructure * event,
    gpointer user_data)
{
  gchar *text = gst_structure_to_string (event);
  printf ("talk-event %s: %s\n", gst_structure_get_string (event, "event"),
      text);
  fflush (stdout);
  g_free (text);
}

static void
on_output_error (GstRTSPMediaFactory * factory, const gchar * message,
    gpointer user_data)
{
  fprintf (stderr, "output error: %s\n", message);
}

static gboolean
on_signal (gpointer user_data)
{
  g_main_loop_quit ((GMainLoop *) user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
cleanup_sessions (gpointer user_data)
{
  GstRTSPSessionPool *pool =
      gst_rtsp_server_get_session_pool (GST_RTSP_SERVER (user_data));
  gst_rtsp_session_pool_cleanup (pool);
  g_object_unref (pool);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  const gchar *output = NULL, *port = "0";
  GstPlugin *plugin;
  GType type;
  GstRTSPMediaFactory *factory;
  GstRTSPServer *server;
  GstRTSPMountPoints *mounts;
  GstElement *output_pipeline = NULL;
  GMainLoop *loop;
  guint server_source;
  int i;

  gst_init (&argc, &argv);
  for (i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--port") == 0 && i + 1 < argc)
      port = argv[++i];
    else if (argv[i][0] != '-' && output == NULL)
      output = argv[i];
    else {
      fprintf (stderr, "usage: %s [--port N] [OUTPUT-PIPELINE]\n", argv[0]);
      return 2;
    }
  }

  /* Registers GstOnvifBackchannelMediaFactory. */
  plugin = gst_plugin_load_by_name ("onvifbackchannel");
  if (plugin == NULL) {
    fprintf (stderr, "cannot load the onvifbackchannel plugin: install it or "
        "point GST_PLUGIN_PATH at the directory holding "
        "libgstonvifbackchannel.so\n");
    return 1;
  }
  gst_object_unref (plugin);
  type = g_type_from_name ("GstOnvifBackchannelMediaFactory");
  if (type == 0) {
    fprintf (stderr, "the plugin did not register GstOnvifBackchannelMediaFactory\n");
    return 1;
  }

  factory = g_object_new (type, "launch", LAUNCH, NULL);
  if (output != NULL)
    g_object_set (factory, "output", output, NULL);
  g_signal_connect (factory, "talk-event", G_CALLBACK (on_talk_event), NULL);
  g_signal_connect (factory, "output-error", G_CALLBACK (on_output_error),
      NULL);

  /* A plain GstRTSPServer answers 551 to the back channel's Require header. */
  server = gst_rtsp_onvif_server_new ();
  gst_rtsp_server_set_address (server, "127.0.0.1");
  gst_rtsp_server_set_service (server, port);
  mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, "/stream",
      g_object_ref (factory));
  g_object_unref (mounts);

  loop = g_main_loop_new (NULL, FALSE);
  server_source = gst_rtsp_server_attach (server, NULL);
  if (server_source == 0) {
    fprintf (stderr, "cannot listen on 127.0.0.1:%s\n", port);
    return 1;
  }
  printf ("listening on rtsp://127.0.0.1:%d/stream\n",
      gst_rtsp_server_get_bound_port (server));
  fflush (stdout);

  /* Remove the sessions of clients that went silent (this releases their
   * talk floor); every gst-rtsp-server application should do this. */
  g_timeout_add_seconds (2, cleanup_sessions, server);

  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);

  /* Stop the output first: its sink closes (a filesink flushes) even if a
   * client still holds a media of this factory. */
  g_object_get (factory, "output-pipeline", &output_pipeline, NULL);
  if (output_pipeline != NULL) {
    gst_element_set_state (output_pipeline, GST_STATE_NULL);
    gst_object_unref (output_pipeline);
  }
  g_source_remove (server_source);
  g_object_unref (server);
  g_object_unref (factory);
  g_main_loop_unref (loop);
  printf ("stopped\n");
  return 0;
}

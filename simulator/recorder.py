"""A recorder's (NVR's) channel answers (pure): Recording Control GetRecordings, Receiver GetReceivers.

A profile is a recorder when it lists the ``recording`` or ``receiver`` service; its channels are the
fleet's ``channels`` entries (``CameraSpec.channels``: the device-service URL of each camera it records).
Element order follows recording.wsdl (tt:GetRecordingsResponseItem, tt:RecordingConfiguration,
tt:RecordingSourceInformation) and receiver.wsdl (tt:Receiver, tt:ReceiverConfiguration).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from simulator.fleet import CameraSpec
from simulator.wire import Node, el

RECORDING_NS = "http://www.onvif.org/ver10/recording/wsdl"
RECEIVER_NS = "http://www.onvif.org/ver10/receiver/wsdl"
RTSP_PORT = 554


def _rtsp_uri(device_url: str, channel: int) -> str:
    host = urlsplit(device_url).hostname or ""
    return f"rtsp://{host}:{RTSP_PORT}/Streaming/Channels/{channel}01"


def recordings(cam: CameraSpec, _now: datetime) -> Node:
    """One recording per channel; ``Source/Address`` is the channel camera's device-service URL."""
    items = [
        el(
            "trc:RecordingItem",
            el("tt:RecordingToken", f"Recording{n:03d}"),
            el(
                "tt:Configuration",
                el(
                    "tt:Source",
                    el("tt:SourceId", f"urn:camsentry-sim:{cam.id}:ch{n}"),
                    el("tt:Name", f"Channel {n}"),
                    el("tt:Location", ""),
                    el("tt:Description", ""),
                    el("tt:Address", url),
                ),
                el("tt:Content", f"Channel {n}"),
                el("tt:MaximumRetentionTime", "PT0S"),
            ),
            el(
                "tt:Tracks",
                el(
                    "tt:Track",
                    el("tt:TrackToken", "VideoTrack"),
                    el(
                        "tt:Configuration",
                        el("tt:TrackType", "Video"),
                        el("tt:Description", "video"),
                    ),
                ),
            ),
        )
        for n, url in enumerate(cam.channels, start=1)
    ]
    return el("trc:GetRecordingsResponse", *items, **{"xmlns:trc": RECORDING_NS})


def receivers(cam: CameraSpec, _now: datetime) -> Node:
    """One receiver per channel, pulling the channel camera's main RTSP stream."""
    items = [
        el(
            "trv:Receivers",
            el("tt:Token", f"Receiver{n:03d}"),
            el(
                "tt:Configuration",
                el("tt:Mode", "AlwaysConnect"),
                el("tt:MediaUri", _rtsp_uri(url, n)),
                el(
                    "tt:StreamSetup",
                    el("tt:Stream", "RTP-Unicast"),
                    el("tt:Transport", el("tt:Protocol", "RTSP")),
                ),
            ),
        )
        for n, url in enumerate(cam.channels, start=1)
    ]
    return el("trv:GetReceiversResponse", *items, **{"xmlns:trv": RECEIVER_NS})


# (service namespace, operation) -> builder; the service must be in the profile's ``services``.
RECORDER_OPERATIONS: dict[tuple[str, str], tuple[str, Callable[[CameraSpec, datetime], Node]]] = {
    (RECORDING_NS, "GetRecordings"): ("recording", recordings),
    (RECEIVER_NS, "GetReceivers"): ("receiver", receivers),
}

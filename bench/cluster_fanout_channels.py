"""Django Channels side of bench/cluster_fanout.py: one group, channels_redis across
processes (run three: ``uvicorn cluster_fanout_channels:application --port P``)."""

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {
        "BACKEND": os.environ.get("CHANNELS_BACKEND", "channels_redis.core.RedisChannelLayer"),
        "CONFIG": {"hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
                   "prefix": os.environ.get("CLUSTER_NAME", "bench"),
                   # The default (100) drops a burst's messages: room for the whole run.
                   "capacity": 100000},
    }},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Room(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("room", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("room", self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("room", {"type": "room.message", "text": text_data})

    async def room_message(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("chat", Room.as_asgi())])})

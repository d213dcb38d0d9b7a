"""The baseline for bench_e2e.py: the smallest aiogram 3 webhook bot, echoing every text.

It does what a bot must (verify the secret, parse the update, call sendMessage) and
nothing Caseline adds (persistence, screening, NLU, flows, an outbox), so the ratio of
the two throughputs is the price of those guarantees.
"""

from __future__ import annotations

import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["BENCH_API_BASE"]))
    bot = Bot(os.environ["BENCH_TOKEN"], session=session)
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=os.environ["BENCH_SECRET"]).register(app, path="/webhook")
    setup_application(app, dp, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), print=None, access_log=None)


if __name__ == "__main__":
    main()

"""What the bot says for probation, in the content's five languages (en fallback).

Kept as code beside the feature rather than in flow content because these messages are
sent by the scheduler and the enrolment step, outside any flow.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "Welcome! You are now linked to your probation officer. I'll remind you when it's time to "
              "check in. Your next check-in: {next}.",
        "ru": "Добро пожаловать! Теперь ты связан(а) со своим инспектором по пробации. Я напомню, когда "
              "придёт время отметиться. Следующая отметка: {next}.",
        "uk": "Ласкаво просимо! Тепер ти пов'язаний(а) зі своїм інспектором з пробації. Я нагадаю, коли "
              "настане час відмітитися. Наступна відмітка: {next}.",
        "ro": "Bun venit! Acum ești conectat(ă) cu consilierul tău de probațiune. Îți amintesc când e timpul "
              "pentru check-in. Următorul check-in: {next}.",
        "sr": "Dobrodošao/la! Sada si povezan/a sa svojim službenikom za probaciju. Podsetiću te kada je "
              "vreme za javljanje. Sledeće javljanje: {next}.",
    },
    "bad_code": {
        "en": "That code doesn't work or has expired. Please ask your probation officer for a new one.",
        "ru": "Этот код не работает или устарел. Попроси у своего инспектора новый.",
        "uk": "Цей код не працює або застарів. Попроси у свого інспектора новий.",
        "ro": "Codul nu merge sau a expirat. Cere-i consilierului tău unul nou.",
        "sr": "Taj kod ne radi ili je istekao. Zamoli svog službenika za novi.",
    },
    "reminder": {
        "en": "Hi! It's time for your check-in. It only takes a minute.",
        "ru": "Привет! Пора отметиться. Это займёт всего минуту.",
        "uk": "Привіт! Час відмітитися. Це займе лише хвилину.",
        "ro": "Salut! E timpul pentru check-in. Durează doar un minut.",
        "sr": "Zdravo! Vreme je za javljanje. Traje samo minut.",
    },
    "followup": {
        "en": "A gentle reminder: your check-in is still open until {closes}.",
        "ru": "Небольшое напоминание: отметиться можно до {closes}.",
        "uk": "Невелике нагадування: відмітитися можна до {closes}.",
        "ro": "Un mic memento: check-in-ul e deschis până la {closes}.",
        "sr": "Mali podsetnik: javljanje je otvoreno do {closes}.",
    },
    "missed": {
        "en": "We missed you at your check-in. That's OK, it happens. Your next one is {next}. "
              "If something is wrong, you can always write to me.",
        "ru": "Ты пропустил(а) отметку. Ничего страшного, так бывает. Следующая: {next}. "
              "Если что-то не так, ты всегда можешь мне написать.",
        "uk": "Ти пропустив(ла) відмітку. Нічого страшного, так буває. Наступна: {next}. "
              "Якщо щось не так, ти завжди можеш мені написати.",
        "ro": "Ai ratat check-in-ul. Nu-i nimic, se întâmplă. Următorul: {next}. "
              "Dacă ceva nu e în regulă, îmi poți scrie oricând.",
        "sr": "Propustio/la si javljanje. U redu je, dešava se. Sledeće: {next}. "
              "Ako nešto nije u redu, uvek mi možeš pisati.",
    },
    "start_button": {"en": "Start check-in", "ru": "Отметиться", "uk": "Відмітитися", "ro": "Începe check-in",
                     "sr": "Počni javljanje"},
    "next": {
        "en": "Your next check-in is {next}.",
        "ru": "Твоя следующая отметка: {next}.",
        "uk": "Твоя наступна відмітка: {next}.",
        "ro": "Următorul tău check-in: {next}.",
        "sr": "Tvoje sledeće javljanje: {next}.",
    },
    "open_now": {
        "en": "Your check-in is open now, until {closes}.",
        "ru": "Отметиться можно прямо сейчас, до {closes}.",
        "uk": "Відмітитися можна просто зараз, до {closes}.",
        "ro": "Check-in-ul e deschis acum, până la {closes}.",
        "sr": "Javljanje je otvoreno sada, do {closes}.",
    },
    "none_planned": {
        "en": "You have no check-ins planned right now.",
        "ru": "Сейчас у тебя нет запланированных отметок.",
        "uk": "Зараз у тебе немає запланованих відміток.",
        "ro": "Nu ai niciun check-in planificat acum.",
        "sr": "Trenutno nemaš zakazanih javljanja.",
    },
    "ask_note": {
        "en": "OK. Type your message for your probation officer and I'll pass it on.",
        "ru": "Хорошо. Напиши сообщение для своего инспектора, и я его передам.",
        "uk": "Добре. Напиши повідомлення для свого інспектора, і я його передам.",
        "ro": "Bine. Scrie mesajul pentru consilierul tău și i-l transmit.",
        "sr": "U redu. Napiši poruku za svog službenika i preneću je.",
    },
    "note_sent": {
        "en": "Thanks, I've passed your message on to your probation officer.",
        "ru": "Спасибо, я передал(а) твоё сообщение инспектору.",
        "uk": "Дякую, я передав(ла) твоє повідомлення інспектору.",
        "ro": "Mulțumesc, i-am transmis mesajul consilierului tău.",
        "sr": "Hvala, prosledio/la sam tvoju poruku službeniku.",
    },
    "reschedule": {
        "en": "OK, I've told your probation officer you can't make the check-in on {when}. They'll get back to you.",
        "ru": "Хорошо, я сообщил(а) инспектору, что ты не сможешь отметиться {when}. С тобой свяжутся.",
        "uk": "Добре, я повідомив(ла) інспектору, що ти не зможеш відмітитися {when}. З тобою зв'яжуться.",
        "ro": "Bine, i-am spus consilierului că nu poți face check-in-ul din {when}. Te va contacta.",
        "sr": "U redu, rekao/la sam službeniku da ne možeš na javljanje {when}. Javiće ti se.",
    },
    "ended": {
        "en": "Your check-ins with your probation officer have ended. You can still write to me any time.",
        "ru": "Отметки у инспектора закончились. Ты всё равно можешь писать мне в любое время.",
        "uk": "Відмітки в інспектора закінчилися. Ти все одно можеш писати мені будь-коли.",
        "ro": "Check-in-urile cu consilierul tău s-au încheiat. Îmi poți scrie oricând.",
        "sr": "Javljanja kod službenika su završena. I dalje mi možeš pisati bilo kada.",
    },
}

# Typed phrases per language for the young person's requests (until the NLU intent is passed in).
KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "next": {
        "en": ("next check-in", "next checkin", "when is my next check-in", "when is my next checkin",
               "when is my next appointment", "next appointment"),
        "ru": ("следующая отметка", "когда следующая отметка", "когда мне отмечаться"),
        "uk": ("наступна відмітка", "коли наступна відмітка", "коли мені відмічатися"),
        "ro": ("următorul check-in", "urmatorul check-in", "când e următorul check-in", "cand e urmatorul check-in"),
        "sr": ("sledeće javljanje", "sledece javljanje", "kada je sledeće javljanje", "kada je sledece javljanje"),
    },
    "message": {
        "en": ("message my officer", "message officer", "message my probation officer"),
        "ru": ("написать инспектору", "сообщение инспектору"),
        "uk": ("написати інспектору", "повідомлення інспектору"),
        "ro": ("mesaj pentru consilier", "scrie consilierului"),
        "sr": ("poruka službeniku", "poruka sluzbeniku"),
    },
    "cant": {
        "en": ("i can't make it", "i cant make it", "can't make it", "cant make it", "reschedule"),
        "ru": ("не смогу", "я не смогу прийти", "перенести"),
        "uk": ("не зможу", "я не зможу прийти", "перенести"),
        "ro": ("nu pot ajunge", "nu pot veni", "reprogramare"),
        "sr": ("ne mogu da stignem", "ne mogu doći", "ne mogu doci"),
    },
}


def say(key: str, lang: str, **values: str) -> str:
    table = TEXTS[key]
    return (table.get(lang) or table["en"]).format(**values)

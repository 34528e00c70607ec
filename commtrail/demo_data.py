"""The bundled sample case: fictional, deterministic inputs in the real formats.

Sam (the owner) asked Jordan for no contact on 1 March 2024 and blocked Jordan's number on
5 March; Jordan went on by WhatsApp, from a new number, by e-mail and in person, and by text,
iMessage and FaceTime once Sam moved to an iPhone in April (commtrail/demo_ios.py). Numbers are in
the UK drama range (07700 900xxx), addresses at example.com / example.org.
"""

from __future__ import annotations

import io
import random
import zipfile
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
OWNER = "+447700900999"
OLD_NUMBER = "07700 900123"
NEW_NUMBER = "+447700900456"
NO_CONTACT = datetime(2024, 3, 1, 18, 30, tzinfo=LONDON)
BLOCKED = datetime(2024, 3, 5, 9, 0, tzinfo=LONDON)
FIRST_BACKUP = datetime(2024, 3, 10, 12, 0, tzinfo=LONDON)
SECOND_BACKUP = datetime(2024, 4, 15, 9, 0, tzinfo=LONDON)
START = datetime(2024, 1, 8, tzinfo=LONDON)

CASE_TOML = """# Sample case built by `commtrail demo`. All people, numbers and addresses are fictional.
[case]
title = "Sam – harassment log (sample)"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
emails = ["sam@example.org"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123", "+44 7700 900456"]
emails = ["jordan.k@example.com", "jk.private@example.com"]
whatsapp_names = ["Jordan", "J 🙂"]

[[event]]
date = "2024-03-01T18:30"
kind = "no_contact_request"
note = "Sam asked Jordan by text for no further contact"

[[event]]
date = "2024-03-05T09:00"
kind = "blocked"
note = "Sam blocked 07700 900123"

[[event]]
date = "2024-04-02T14:00"
kind = "order_served"
note = "Non-molestation order served"
"""

FRIENDLY = ["hey how are you", "did you get home ok?", "can we talk later", "ok", "thanks 🙂",
            "I'll drop your things round on Saturday", "fine", "sure", "what time works for you?"]
PUSHY = ["why aren't you answering", "pick up the phone", "we need to talk", "answer me",
         "you can't just ignore me", "I only want to talk", "just one conversation 🙏", "call me back",
         "I'm not going away", "please Sam", "who are you with?", "you'll regret this",
         "I know where you are", "I'm outside", "I saw your car at the gym", "don't make me come round"]
SAM = ["Please stop contacting me.", "I have asked you not to contact me.", "ok", "I'm busy"]


def _stamp(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _sbr_text(text: str) -> str:
    """Text as SMS Backup & Restore writes it: XML-escaped, astral characters as two surrogate refs."""
    out = []
    for ch in quoteattr(text)[1:-1]:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"&#{0xD800 + (code >> 10)};&#{0xDC00 + (code & 0x3FF)};")
        else:
            out.append(ch)
    return "".join(out)


class Story:
    """Every contact of the sample case, generated once from a fixed seed."""

    def __init__(self, seed: int = 2024) -> None:
        rng = random.Random(seed)
        self.sms: list[tuple[datetime, str, int, str]] = []        # when, number, type, body
        self.calls: list[tuple[datetime, str, int, int]] = []      # when, number, type, duration
        self.whatsapp: list[tuple[datetime, str, str]] = []        # when, author, text
        self.mail: list[tuple[datetime, str, str, str]] = []       # when, from, subject, body
        day = START
        while day < SECOND_BACKUP:
            before = day < NO_CONTACT
            blocked = day >= BLOCKED
            per_day = rng.randint(0, 2) if before else rng.randint(3, 9)
            for _ in range(per_day):
                hour = rng.choice([8, 12, 17, 19, 20, 21] if before else [7, 12, 18, 21, 22, 23, 0, 1, 2])
                when = day + timedelta(hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
                channel = rng.random()
                text = rng.choice(FRIENDLY if before else PUSHY)
                if channel < 0.45:
                    number = NEW_NUMBER if blocked else OLD_NUMBER
                    self.sms.append((when, number, 1, text))
                    if before and rng.random() < 0.6:
                        self.sms.append((when + timedelta(minutes=rng.randint(2, 40)), number, 2,
                                         rng.choice(FRIENDLY)))
                elif channel < 0.75:
                    self.whatsapp.append((when, "Jordan", text))
                    if before and rng.random() < 0.5:
                        self.whatsapp.append((when + timedelta(minutes=3), "Sam", rng.choice(FRIENDLY)))
                elif channel < 0.92:
                    if blocked:
                        self.calls.append((when, OLD_NUMBER, 6, 0))
                        if rng.random() < 0.5:
                            self.calls.append((when + timedelta(minutes=rng.randint(1, 8)), NEW_NUMBER,
                                               rng.choice([3, 5]), 0))
                    else:
                        self.calls.append((when, OLD_NUMBER, 1 if before else rng.choice([3, 3, 5]),
                                           rng.randint(30, 600) if before else 0))
                elif not before:
                    sender = "jk.private@example.com" if blocked else "jordan.k@example.com"
                    self.mail.append((when, sender, rng.choice(["Please", "Talk to me", "Re: us", "Über uns"]),
                                      f"{text}\n\nFrom my phone\n-- \nJ"))
            day += timedelta(days=1)
        self.sms.append((NO_CONTACT, OLD_NUMBER, 2, "Please do not contact me again. I mean it."))
        self.sms.sort()
        self.calls.sort()
        self.whatsapp.sort()
        self.mail.sort()


def sms_backup(story: Story, until: datetime, drop: set[int] = frozenset()) -> bytes:
    """An SMS Backup & Restore `sms-*.xml` holding every text up to ``until`` (minus ``drop``)."""
    rows = [(i, s) for i, s in enumerate(story.sms) if s[0] < until and i not in drop]
    mms_at = BLOCKED + timedelta(days=2, hours=13)
    lines = ["<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
             "<?xml-stylesheet type=\"text/xsl\" href=\"sms.xsl\"?>",
             f'<smses count="{len(rows) + (mms_at < until)}" backup_set="5b0f8d3e-8a39-4a4e-9c1a-demo0000000{1 if until == FIRST_BACKUP else 2}" '
             f'backup_date="{_stamp(until)}" type="full">']
    for _, (when, number, kind, body) in rows:
        name = "Jordan" if number != NEW_NUMBER else "(Unknown)"
        lines.append(f'  <sms protocol="0" address="{number}" date="{_stamp(when)}" type="{kind}" subject="null" '
                     f'body="{_sbr_text(body)}" toa="null" sc_toa="null" service_center="null" read="1" status="-1" '
                     f'locked="0" date_sent="{_stamp(when) - 1000 if kind == 1 else 0}" sub_id="1" '
                     f'readable_date="{when.strftime("%d %b %Y %H:%M:%S")}" contact_name="{name}" />')
    # one MMS with a picture, sent from the new number after the block
    when = mms_at
    if when < until:
        jpeg = _tiny_jpeg()
        import base64
        lines.append(f'  <mms date="{_stamp(when)}" rr="null" sub="null" ct_t="application/vnd.wap.multipart.related" '
                     f'read_status="null" seen="1" msg_box="1" address="{NEW_NUMBER}" sub_cs="null" resp_st="null" '
                     f'retr_st="null" d_tm="null" text_only="0" exp="604800" locked="0" m_id="demo-mms-1" st="null" '
                     f'retr_txt_cs="null" retr_txt="null" creator="com.google.android.apps.messaging" '
                     f'date_sent="{_stamp(when) // 1000}" read="1" m_size="{len(jpeg)}" rpt_a="null" ct_cls="null" '
                     f'pri="null" sub_id="1" tr_id="null" resp_txt="null" ct_l="null" m_cls="personal" d_rpt="128" '
                     f'v="18" _id="1" m_type="132" readable_date="{when.strftime("%d %b %Y %H:%M:%S")}" '
                     f'contact_name="(Unknown)">')
        lines.append('    <parts>')
        lines.append('      <part seq="-1" ct="application/smil" name="null" chset="null" cd="null" fn="null" '
                     'cid="&lt;smil&gt;" cl="smil.xml" ctt_s="null" ctt_t="null" text="&lt;smil&gt;&lt;body&gt;'
                     '&lt;par dur=&quot;5000ms&quot;&gt;&lt;img src=&quot;car.jpg&quot;/&gt;&lt;/par&gt;'
                     '&lt;/body&gt;&lt;/smil&gt;" />')
        lines.append(f'      <part seq="0" ct="image/jpeg" name="car.jpg" chset="null" cd="null" fn="null" '
                     f'cid="&lt;car&gt;" cl="car.jpg" ctt_s="null" ctt_t="null" text="null" '
                     f'data="{base64.b64encode(jpeg).decode()}" />')
        lines.append(f'      <part seq="1" ct="text/plain" name="null" chset="106" cd="null" fn="null" cid="&lt;text&gt;" '
                     f'cl="text_0.txt" ctt_s="null" ctt_t="null" text="{_sbr_text("Nice car. I know where you park 🚗")}" />')
        lines.append('    </parts>')
        lines.append('    <addrs>')
        lines.append(f'      <addr address="{NEW_NUMBER}" type="137" charset="106" />')
        lines.append('      <addr address="insert-address-token" type="151" charset="106" />')
        lines.append('    </addrs>')
        lines.append('  </mms>')
    lines.append("</smses>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def calls_backup(story: Story, until: datetime) -> bytes:
    """An SMS Backup & Restore `calls-*.xml`."""
    rows = [c for c in story.calls if c[0] < until]
    rows.append((NO_CONTACT + timedelta(days=20, hours=3, minutes=12), "", 3, 0))   # a withheld caller
    rows.sort()
    lines = ["<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
             f'<calls count="{len(rows)}" backup_set="5b0f8d3e-8a39-4a4e-9c1a-democalls001" '
             f'backup_date="{_stamp(until)}" type="full">']
    for when, number, kind, duration in rows:
        presentation = 1 if number else 2
        name = "Jordan" if number == OLD_NUMBER else "null"
        lines.append(f'  <call number="{number}" duration="{duration}" date="{_stamp(when)}" type="{kind}" '
                     f'presentation="{presentation}" subscription_id="1" post_dial_digits="" '
                     f'subscription_component_name="null" readable_date="{when.strftime("%d %b %Y %H:%M:%S")}" '
                     f'contact_name="{name}" />')
    lines.append("</calls>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def whatsapp_export(story: Story) -> bytes:
    """`WhatsApp Chat with Jordan.zip` as Android exports it: the chat text and one photo."""
    lines = ["08/01/2024, 09:00 - Messages and calls are end-to-end encrypted. No one outside of this chat, "
             "not even WhatsApp, can read or listen to them. Tap to learn more."]
    photo_at = NO_CONTACT + timedelta(days=2, hours=2, minutes=7)
    rows = list(story.whatsapp) + [(photo_at, "Jordan", "IMG-20240303-WA0001.jpg (file attached)\nLook familiar?"),
                                   (photo_at + timedelta(minutes=1), "Jordan", "<Media omitted>"),
                                   (photo_at + timedelta(minutes=2), "Jordan", "This message was deleted")]
    rows.sort()
    for when, author, text in rows:
        lines.append(f"{when.strftime('%d/%m/%Y, %H:%M')} - {author}: {text}")
    chat = ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (("WhatsApp Chat with Jordan.txt", chat), ("IMG-20240303-WA0001.jpg", _tiny_jpeg())):
            info = zipfile.ZipInfo(name, date_time=(2024, 4, 15, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buf.getvalue()


def mbox(story: Story) -> bytes:
    """A Takeout-style mbox of Jordan's e-mails to Sam."""
    out = []
    for n, (when, sender, subject, body) in enumerate(story.mail, 1):
        utc = when.astimezone(timezone.utc)
        from email.header import Header
        encoded = Header(subject, "utf-8").encode() if not subject.isascii() else subject
        out.append(f"From {1700000000000 + n}@xxx {utc.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n"
                   f"X-GM-THRID: {1790000000000000000 + (n % 3)}\n"
                   f"X-Gmail-Labels: Inbox,Category Personal\n"
                   f"Message-ID: <demo-{n}@example.com>\n"
                   f"Date: {format_datetime(when)}\n"
                   f"From: Jordan K <{sender}>\n"
                   f"To: Sam <sam@example.org>\n"
                   f"Subject: {encoded}\n"
                   f"MIME-Version: 1.0\n"
                   f"Content-Type: text/plain; charset=utf-8\n"
                   f"Content-Transfer-Encoding: 8bit\n\n"
                   f"{body}\n\n")
    return "".join(out).encode("utf-8")


def incident_log() -> bytes:
    """The owner's own log of what happened away from the phone."""
    return ("date,time,who it was,location,description,witnesses,police called,report number,officer and badge,"
            "how it affected you,evidence files\n"
            "2024-03-08,07:45,Jordan,Outside home,Jordan was waiting by my car when I left for work and followed me "
            "to the bus stop.,Alex (neighbour) 07700 900321,no,,,Could not sleep; changed my route to work,"
            "car-note.jpg\n"
            "2024-03-22,22:10,Jordan,Front door,Flowers and a note left on the doorstep: \"I'm not going away\".,,yes,"
            "CAD 4411/22MAR24,PC Example 1234,Frightened to be home alone,\n").encode("utf-8")


def _tiny_jpeg() -> bytes:
    """A small valid JPEG (a 16x16 grey square), so the demo needs no image files."""
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def write_inputs(folder: Path) -> list[Path]:
    """Write every sample input into ``folder``; returns the paths in the order to ingest them."""
    story = Story()
    phone = folder / "phone-backups"
    phone.mkdir(parents=True, exist_ok=True)
    first = phone / "sms-20240310120000.xml"
    first.write_bytes(sms_backup(story, FIRST_BACKUP))
    # The later full backup lacks two texts that the earlier one holds: deleted on the phone in between.
    deleted = {i for i, s in enumerate(story.sms) if s[0] < FIRST_BACKUP and s[2] == 1 and s[0] > NO_CONTACT}
    drop = set(sorted(deleted)[:2])
    second = phone / "sms-20240415090000.xml"
    second.write_bytes(sms_backup(story, SECOND_BACKUP, drop))
    calls = phone / "calls-20240415090000.xml"
    calls.write_bytes(calls_backup(story, SECOND_BACKUP))
    chat = folder / "WhatsApp Chat with Jordan.zip"
    chat.write_bytes(whatsapp_export(story))
    mail = folder / "mail"
    mail.mkdir(exist_ok=True)
    (mail / "All mail Including Spam and Trash.mbox").write_bytes(mbox(story))
    log = folder / "incidents"
    log.mkdir(exist_ok=True)
    (log / "incidents.csv").write_bytes(incident_log())
    (log / "car-note.jpg").write_bytes(_tiny_jpeg())
    from commtrail.demo_ios import demo_backup   # Sam's iPhone from 16 April on
    iphone = folder / "iphone-backup"
    demo_backup(iphone / "00008030-001A2B3C4D5E6F70", _tiny_jpeg(), story.whatsapp[-2:])
    from commtrail.demo_screens import write_screenshots   # three screenshots of the WhatsApp chat
    screens = folder / "screenshots"
    write_screenshots(story.whatsapp, BLOCKED, screens)
    return [phone, chat, mail, log, iphone, screens]

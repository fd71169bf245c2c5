"""Cleaning a log for display: hostile escapes out, text and (on a terminal) colours in, the same
result however the log is cut into chunks."""

from __future__ import annotations

import random
import re
import time

import pytest

from journal.render.logtext import LogCleaner, clean_log

# Every kind of sequence that acts on a terminal, each between two words that must survive.
HOSTILE = {
    "osc 52 clipboard, BEL": b"\x1b]52;c;cm0gLXJmIH4K\x07",
    "osc 52 clipboard, ST": b"\x1b]52;c;cm0gLXJmIH4K\x1b\\",
    "osc 52, 8-bit ST": b"\x1b]52;c;cm0gLXJmIH4K\x9c",
    "osc 8 link open, BEL": b"\x1b]8;;https://evil.example/\x07",
    "osc 8 link open, ST": b"\x1b]8;id=1;https://evil.example/\x1b\\",
    "osc 0 window title": b"\x1b]0;pwned\x07",
    "csi clear screen": b"\x1b[2J",
    "csi cursor home": b"\x1b[H",
    "csi cursor up": b"\x1b[5A",
    "csi erase line": b"\x1b[2K",
    "csi alternate screen": b"\x1b[?1049h",
    "csi device status report": b"\x1b[6n",
    "csi with intermediate": b"\x1b[1 q",
    "csi private sgr-like": b"\x1b[>4;2m",
    "dcs": b"\x1bP1$r0m\x1b\\",
    "apc (kitty graphics)": b"\x1b_Gf=100;AAAA\x1b\\",
    "pm": b"\x1b^private\x1b\\",
    "sos": b"\x1bXstring\x1b\\",
    "esc c full reset": b"\x1bc",
    "esc charset": b"\x1b(0",
    "esc save cursor": b"\x1b7",
    "esc decaln fills screen": b"\x1b#8",
    "c1 csi raw byte": b"\x9b",
    "c1 osc raw byte": b"\x9d",
    "c1 csi as utf-8": b"\xc2\x9b",
    "c1 osc as utf-8": b"\xc2\x9d",
    "c1 nel as utf-8": b"\xc2\x85",
    "bidi rlo": "\u202e".encode(),
    "bidi pdf": "\u202c".encode(),
    "bidi lri isolate": "\u2066".encode(),
    "bidi pdi": "\u2069".encode(),
    "rlm": "\u200f".encode(),
    "zero width space": "\u200b".encode(),
    "zero width joiner": "\u200d".encode(),
    "word joiner": "\u2060".encode(),
    "bom": "\ufeff".encode(),
    "line separator": "\u2028".encode(),
    "backspace": b"\x08",
    "bell": b"\x07",
    "nul": b"\x00",
    "vertical tab": b"\x0b",
    "form feed": b"\x0c",
    "delete": b"\x7f",
    "can": b"\x18",
}


@pytest.mark.parametrize("keep_colour", [False, True])
@pytest.mark.parametrize("sequence", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_sequences_are_dropped_whole(sequence: bytes, keep_colour: bool) -> None:
    assert clean_log(b"before " + sequence + b"after\n", keep_colour=keep_colour) == b"before after\n"


def test_sgr_colours_are_kept_only_for_a_terminal() -> None:
    log = b"\x1b[1;31mred\x1b[0m \x1b[38;2;255;0;0mtrue\x1b[m \x1b[38:5:208mcolon\x1b[39m\n"
    assert clean_log(log, keep_colour=True) == log
    assert clean_log(log, keep_colour=False) == b"red true colon\n"


def test_only_real_sgr_is_kept_as_colour() -> None:
    # 8-bit CSI, private markers and intermediates are not SGR; a CSI cut short by C1 goes whole.
    log = b"a\x9b31mb\x1b[?25mc\x1b[1$md\x1b[31;\x80me\n"
    assert clean_log(log, keep_colour=True) == b"a31mbcdme\n"


def test_an_escape_inside_a_string_ends_it_and_is_read_on_its_own() -> None:
    # As a terminal's parser does: ESC aborts the OSC, the SGR after it is a colour.
    log = b"x\x1b]0;title\x1b[32mgreen\x1b[0m\n"
    assert clean_log(log, keep_colour=True) == b"x\x1b[32mgreen\x1b[0m\n"
    # tmux passthrough: every part of it is dropped.
    assert clean_log(b"a\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\b\n", keep_colour=True) == b"ab\n"


def test_text_tabs_and_utf8_survive_byte_for_byte() -> None:
    # Valid UTF-8 is full of continuation bytes 0x80-0x9F: they are not C1 controls.
    text = "café Ü — █▉ 学習率 👨 \tα=0.1 ✓\n".encode()
    assert clean_log(text, keep_colour=False) == text
    assert clean_log(text, keep_colour=True) == text


def test_invalid_utf8_passes_through_except_c1_bytes() -> None:
    # A stray 0x80-0x9F (not inside a valid character) is a C1 control to some terminals.
    log = b"latin-1 caf\xe9 \xff\xfe cut \xe2\xa2 overlong \xc0\xaf surrogate \xed\xa0\xbf c1 \x85\x9b"
    assert clean_log(log, keep_colour=False) == log[:-2]
    assert clean_log(b"cut \xe2\x82 cp1252 \x80\x93\n", keep_colour=False) == b"cut \xe2 cp1252 \n"


def test_carriage_returns_keep_the_last_state_of_a_line_when_not_on_a_terminal() -> None:
    log = b"start\n 10%|#   |\r 50%|##  |\r100%|####|\ndone\r\n\rover\r\r\nlast\rfinal"
    assert clean_log(log, keep_colour=False) == b"start\n100%|####|\ndone\nover\nfinal"
    # On a terminal the \r stay, so a progress bar redraws in place as it did.
    assert clean_log(log, keep_colour=True) == log
    # Both choices can be made apart (`show --log` on a terminal may want colours, no redraws).
    assert clean_log(b"a\x1b[1mb\x1b[0m\rc\n", keep_colour=True, keep_cr=False) == b"c\n"


def test_the_log_ending_inside_a_sequence_shows_nothing_of_it() -> None:
    assert clean_log(b"text\x1b]52;c;cm0gLXJmIH4K", keep_colour=True) == b"text"
    assert clean_log(b"text\x1b[31", keep_colour=True) == b"text"
    assert clean_log(b"text\x1b", keep_colour=True) == b"text"
    assert clean_log(b"text\x1b(", keep_colour=True) == b"text"
    # ...and so does a sequence cut short by the next one, as a terminal reads it.
    assert clean_log(b"a\x1b[12\x1b[31mb\x1b(\x1b[0m\n", keep_colour=True) == b"a\x1b[31mb\x1b[0m\n"
    assert clean_log(b"text\xc2", keep_colour=True) == b"text\xc2"   # a cut character: a byte


def test_a_stray_string_start_cannot_swallow_the_rest_of_the_log() -> None:
    from journal.render import logtext

    payload = b"x" * (logtext._MAX_STRING + 10)
    log = b"a\x1b]" + payload + b"\nend\n"
    assert clean_log(log, keep_colour=False) == b"a" + payload + b"\nend\n"
    assert _in_chunks(log, 1 << 20, keep_colour=False) == b"a" + payload + b"\nend\n"


# -- streaming ------------------------------------------------------------------------------

def _in_chunks(data: bytes, size: int, *, keep_colour: bool) -> bytes:
    cleaner = LogCleaner(keep_colour=keep_colour)
    out = b"".join(cleaner.feed(data[i:i + size]) for i in range(0, len(data), size))
    return out + cleaner.flush()


SAMPLE = b"".join(HOSTILE.values()) + (
    b"\x1b[1;31mred\x1b[0m caf\xc3\xa9 \xe2\x96\x88 \xe2\x80\xae 10%\r50%\r\n"
    b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \xc2\x9b2J latin \xe9\n"
)


@pytest.mark.parametrize("keep_colour", [False, True])
def test_every_split_point_gives_the_same_output(keep_colour: bool) -> None:
    whole = clean_log(SAMPLE, keep_colour=keep_colour)
    for cut in range(len(SAMPLE) + 1):
        cleaner = LogCleaner(keep_colour=keep_colour)
        out = cleaner.feed(SAMPLE[:cut]) + cleaner.feed(SAMPLE[cut:]) + cleaner.flush()
        assert out == whole, cut
    assert _in_chunks(SAMPLE, 1, keep_colour=keep_colour) == whole


def test_half_a_sequence_is_held_back_until_it_is_complete() -> None:
    cleaner = LogCleaner(keep_colour=True)
    assert cleaner.feed(b"a\x1b]52;c;cm0g") == b"a"         # nothing of the OSC leaks
    assert cleaner.feed(b"LXJmIH4K\x07b\x1b[3") == b"b"     # nor half of a colour
    assert cleaner.feed(b"1mred\xe2\x80") == b"\x1b[31mred"  # nor half of a character
    assert cleaner.feed(b"\xae!") == b"!"                   # ...which was a bidi override
    assert cleaner.flush() == b""


def test_a_pipe_gets_whole_lines_as_they_complete() -> None:
    cleaner = LogCleaner(keep_colour=False)
    assert cleaner.feed(b"epoch 1\n 10%|#") == b"epoch 1\n"
    assert cleaner.feed(b"  |\r 90%|###|") == b""
    assert cleaner.feed(b"\r100%|####|\nnext") == b"100%|####|\n"
    assert cleaner.flush() == b"next"


PIECES = [b"\x1b", b"[", b"]", b"31", b";", b"m", b"\x07", b"\\", b"P", b"_", b"X", b"(", b"B",
          b"2J", b"\x9b", b"\x9c", b"\xc2", b"\xe2\x80", b"\xae", b"\x94", b"\r", b"\n", b"\r\n",
          b"abc", b" ", b"\x18", b"\xff", b"\xf0\x9f\x98\x80", b"\x00", b"\x08", b"\xc3\x9c"]
_LEFT_ON_SCREEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LEFT_AS_TEXT = re.compile("[\x80-\x9f\udc80-\udc9f\u202a-\u202e\u200b-\u200f\u2066-\u2069]")


@pytest.mark.parametrize("keep_colour", [False, True])
def test_random_logs_in_random_chunks(keep_colour: bool) -> None:
    rng = random.Random(20261128)
    for _ in range(1500):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))
        whole = clean_log(data, keep_colour=keep_colour)
        cleaner = LogCleaner(keep_colour=keep_colour)
        out, i = b"", 0
        while i < len(data):
            step = rng.randint(1, 6)
            out += cleaner.feed(data[i:i + step])
            i += step
        assert out + cleaner.flush() == whole, data
        # Whatever went in, only text, \t \n \r and SGR colours come out.
        shown = re.sub(rb"\x1b\[[0-9;:]*m", b"", whole) if keep_colour else whole
        assert not _LEFT_ON_SCREEN.search(shown), (data, whole)
        assert not _LEFT_AS_TEXT.search(shown.decode("utf-8", "surrogateescape")), (data, whole)


def test_a_large_coloured_log_is_cleaned_quickly() -> None:
    line = b"\x1b[32mINFO\x1b[0m step 1234 loss=0.3124 \xe2\x80\x94 ok \xe2\x96\x88\xe2\x96\x88\r\n"
    data = line * (10_000_000 // len(line))
    started = time.perf_counter()
    out = clean_log(data, keep_colour=False)
    elapsed = time.perf_counter() - started
    assert out == b"INFO step 1234 loss=0.3124 \xe2\x80\x94 ok \xe2\x96\x88\xe2\x96\x88\n" * (
        10_000_000 // len(line))
    assert elapsed < 5, f"10 MB took {elapsed:.1f} s"   # ~0.3 s here: a regression would be 10x

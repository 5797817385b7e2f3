"""The strict reading helpers every loader builds on."""

from __future__ import annotations

import pytest

from graphrec.errors import InputError
from loaders._text import check_int_ids, fields, int_id, int_value, number_value, read_lines


def test_accepts_crlf_bom_and_blank_lines(tmp_path):
    file = tmp_path / "ok.txt"
    file.write_bytes(b"\xef\xbb\xbfa b\r\n\r\nc d\r\n\n\n")
    assert read_lines(file) == [(1, "a b"), (3, "c d")]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.txt: file not found"):
        read_lines(tmp_path / "nope.txt")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(InputError, match="expected a file, found a folder"):
        read_lines(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"])
def test_empty_file(tmp_path, content):
    file = tmp_path / "empty.txt"
    file.write_bytes(content)
    with pytest.raises(InputError, match=r"empty\.txt: the file is empty"):
        read_lines(file)


def test_invalid_utf8_names_the_line(tmp_path):
    file = tmp_path / "bad.txt"
    file.write_bytes(b"ok\nstill ok\nMis\xe9rables\n")
    with pytest.raises(InputError, match=r"bad\.txt, line 3: not valid utf-8 text \(byte 0xe9\)") as caught:
        read_lines(file)
    assert caught.value.line == 3


def test_encoding_fallback(tmp_path):
    file = tmp_path / "latin.txt"
    file.write_bytes(b"Mis\xe9rables\n")
    assert read_lines(file, ("utf-8", "latin-1")) == [(1, "Misérables")]


def test_header_checked_then_dropped(tmp_path):
    file = tmp_path / "h.dat"
    file.write_text("a\tb\n1\t2\n")
    assert read_lines(file, header="a\tb", sep="\t") == [(2, "1\t2")]
    with pytest.raises(InputError, match=r"h\.dat, line 1: expected the header 'x\\ty'"):
        read_lines(file, header="x\ty", sep="\t")


def test_header_only_is_empty(tmp_path):
    file = tmp_path / "h.dat"
    file.write_text("a\tb\n")
    with pytest.raises(InputError, match="header but no data"):
        read_lines(file, header="a\tb", sep="\t")


def test_field_count(tmp_path):
    with pytest.raises(InputError, match=r"f\.txt, line 7: expected 3 fields separated by '\\t', found 2"):
        fields(tmp_path / "f.txt", 7, "1\t2", 3, "\t")


@pytest.mark.parametrize("token", ["x", "-1", "1.5", "", "١"])
def test_integer_ids(tmp_path, token):
    with pytest.raises(InputError, match="line 4: user must be a non-negative integer"):
        int_id(tmp_path / "f.txt", 4, token, "user")
    if token:  # check_int_ids takes str.split() tokens, never empty
        with pytest.raises(InputError, match=f"line 4: user must be a non-negative integer, found {token!r}"):
            check_int_ids(tmp_path / "f.txt", 4, ["1", token, "2"], "user")


@pytest.mark.parametrize("token", ["abc", "nan", "inf", "1_0", ""])
def test_numbers(tmp_path, token):
    with pytest.raises(InputError, match="line 2: rating must be a .*number"):
        number_value(tmp_path / "f.txt", 2, token, "rating")


@pytest.mark.parametrize("token", ["12.5", "1_0", " 7", "x"])
def test_integers(tmp_path, token):
    with pytest.raises(InputError, match="line 9: timestamp must be an integer"):
        int_value(tmp_path / "f.txt", 9, token, "timestamp")


def test_good_values(tmp_path):
    assert number_value(tmp_path, 1, "3.5", "w") == 3.5
    assert int_value(tmp_path, 1, "-12", "ts") == -12
    assert int_id(tmp_path, 1, "007", "id") == "007"


def test_a_nul_byte_is_refused_with_its_line(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"user item\nu1 i\x001\n")
    with pytest.raises(InputError, match=r"line 2: holds a NUL byte"):
        read_lines(f)


def test_utf16_without_a_bom_is_named_as_such(tmp_path):
    f = tmp_path / "a.csv"
    f.write_bytes("user,item\nu1,i1\n".encode("utf-16-le"))
    with pytest.raises(InputError, match="looks like UTF-16 text without a byte-order mark.*encoding=utf-16-le"):
        read_lines(f)
    assert read_lines(f, "utf-16-le") == [(1, "user,item"), (2, "u1,i1")]

"""Built-in list resolution and verified downloads, against a local HTTP server on loopback."""

import functools
import http.server
import shutil
import threading

import pytest
from conftest import write

from sveval.errors import InputError
from sveval.io.catalog import builtin, cache_dir, fetch, load_manifest, load_trials, locate
from sveval.io.trials import write_kaldi_trials


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base_url, folder, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/meta/", root, requests
    httpd.shutdown()
    httpd.server_close()


def test_manifest_has_the_six_lists_with_design_counts():
    _, lists = load_manifest()
    assert set(lists) == {"vox1_O", "vox1_O_cleaned", "vox1_E", "vox1_E_cleaned", "vox1_H", "vox1_H_cleaned"}
    for entry in lists.values():
        assert entry.target + entry.nontarget == entry.trials
    assert (lists["vox1_H_cleaned"].source, lists["vox1_H_cleaned"].trials) == ("list_test_hard2.txt", 550894)


def test_trials_dir_with_source_file_or_kaldi_form(voxceleb_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(voxceleb_dir))
    trials = load_trials("vox1_O_cleaned")
    assert trials.name == "vox1_O_cleaned" and trials.basename == "vox1_O_cleaned.kaldi"
    assert trials.builtin == "vox1_O_cleaned" and len(trials) == 37611
    # WeSpeaker's converted form in another folder is found under <name>.kaldi and has the same fingerprint.
    kaldi_dir = tmp_path / "kaldi"
    write_kaldi_trials(kaldi_dir / "vox1_O_cleaned.kaldi", trials)
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(kaldi_dir))
    again = load_trials("vox1_O_cleaned")
    assert again.source.endswith("vox1_O_cleaned.kaldi") and again.fingerprint == trials.fingerprint


def test_explicit_path_is_identified_as_builtin(voxceleb_dir):
    trials = load_trials(str(voxceleb_dir / "veri_test.txt"))
    assert trials.builtin == "vox1_O" and trials.name == "veri_test.txt"


def test_a_wrong_file_under_a_builtin_name_is_refused(voxceleb_dir, tmp_path, monkeypatch):
    shutil.copy(voxceleb_dir / "veri_test.txt", tmp_path / "veri_test2.txt")  # the original list, misnamed
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(tmp_path))
    with pytest.raises(InputError, match="this is not vox1_O_cleaned: 37,720 trials"):
        load_trials("vox1_O_cleaned")


def test_same_counts_other_trials_is_refused_by_fingerprint(voxceleb_dir, tmp_path, monkeypatch):
    lines = (voxceleb_dir / "veri_test2.txt").read_text().splitlines()
    label, enroll, _ = lines[0].split()
    lines[0] = f"{label} {enroll} id99999/none/00001.wav"  # same counts, one trial changed
    write(tmp_path / "veri_test2.txt", "\n".join(lines))
    monkeypatch.setenv("SVEVAL_TRIALS_DIR", str(tmp_path))
    with pytest.raises(InputError, match="counts match but the trials differ"):
        load_trials("vox1_O_cleaned")


def test_offline_error_says_which_file_to_put_where(monkeypatch):
    monkeypatch.setenv("SVEVAL_TRIALS_URL", "http://127.0.0.1:9/nothing/")
    with pytest.raises(InputError) as err:
        load_trials("vox1_H_cleaned")
    message = str(err.value)
    assert "list_test_hard2.txt" in message and "vox1_H_cleaned.kaldi" in message
    assert str(cache_dir()) in message and "SVEVAL_TRIALS_DIR" in message
    with pytest.raises(InputError, match="not available"):
        load_trials("vox1_E", download=False)


def test_unknown_name():
    with pytest.raises(InputError, match="not a file and not a built-in name"):
        load_trials("vox1_Q")


def test_download_verifies_and_caches(server, voxceleb_dir, monkeypatch):
    url, root, requests = server
    (root / "meta").mkdir()
    shutil.copy(voxceleb_dir / "veri_test2.txt", root / "meta" / "veri_test2.txt")
    monkeypatch.setenv("SVEVAL_TRIALS_URL", url)
    entry = builtin("vox1_O_cleaned")
    assert locate(entry).path is None
    trials = load_trials("vox1_O_cleaned")
    assert len(trials) == 37611 and requests == ["/meta/veri_test2.txt"]
    assert locate(entry).where == "cache"
    assert (cache_dir() / "veri_test2.txt").read_bytes() == (voxceleb_dir / "veri_test2.txt").read_bytes()
    load_trials("vox1_O_cleaned")  # second time from the cache: no new request
    assert len(requests) == 1


def test_corrupted_download_is_refused_and_not_cached(server, voxceleb_dir):
    url, root, _ = server
    (root / "meta").mkdir()
    lines = (voxceleb_dir / "veri_test2.txt").read_text().splitlines()
    write(root / "meta" / "veri_test2.txt", "\n".join(lines[:-100]))  # truncated: wrong counts
    with pytest.raises(InputError, match="refused the download, nothing was cached.*37,511 trials"):
        fetch(builtin("vox1_O_cleaned"), url_base=url)
    assert not (cache_dir() / "veri_test2.txt").exists()
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_download_404_names_the_url(server):
    url, _, _ = server
    with pytest.raises(InputError, match="cannot download .*list_test_all2.txt"):
        fetch(builtin("vox1_E_cleaned"), url_base=url)

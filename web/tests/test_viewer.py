"""The full-screen view (issue #25): previous/next through the group's pictures with buttons and
arrow keys, zoom between fitting the screen and the picture's own size (scrolling then), a
download of the file itself, focus kept in the view and returned to the card; video and audio
played from their presigned URL.
"""

import base64
import io
import math
import struct
import wave

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import accessibility_problems
from test_browser import (before_load, downloaded, file_card, open_group, override_config, png_bytes,
                          read_everything, sign_in, upload_via_api, wait)


def new_group(stack, title):
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": ["bob"]})
    assert status == 201, group
    return group["conversation_id"]


def previews_ready(stack, cid, messages):
    ids = ",".join(m["file"]["file_id"] for m in messages)
    _, batch = stack.call("bob", "GET", f"/conversations/{cid}/files?ids={ids}")
    return all((f.get("preview") or {}).get("status") == "ready" for f in batch["files"])


# The view as it is now, in one read.
VIEWER = """
const d = document.querySelector('dialog.viewer[open]');
if (!d) return null;
const s = d.querySelector('.viewer-stage'), img = s.querySelector('img'), r = img && img.getBoundingClientRect();
const button = (label) => [...d.querySelectorAll('button')].find((b) => b.textContent === label);
return {
  name: d.querySelector('.viewer-name').textContent,
  position: d.querySelector('.viewer-position').textContent,
  natural: img && img.complete && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null,
  box: r && [r.left, r.top, r.right, r.bottom, r.width], viewport: [innerWidth, innerHeight],
  scrolls: s.scrollHeight > s.clientHeight || s.scrollWidth > s.clientWidth,
  previous: button('Previous').getAttribute('aria-disabled'), next: button('Next').getAttribute('aria-disabled'),
  zoomed: button('Actual size').getAttribute('aria-pressed'),
  focusInside: d.contains(document.activeElement),
};
"""


def viewer(browser):
    return browser.driver.execute_script(VIEWER)


def press(browser, key):
    browser.driver.switch_to.active_element.send_keys(key)


# Before the page's scripts: older pages of history are held back until `__releaseOlder` is set.
HOLD_OLDER = """
(() => {
  const original = window.fetch;
  window.__releaseOlder = false;
  window.fetch = async (url, init) => {
    if (String(url).includes('before=')) {
      await new Promise((resolve) => {
        const check = () => (window.__releaseOlder ? resolve() : setTimeout(check, 20));
        check();
      });
    }
    return original(url, init);
  };
})();
"""


def test_the_view_steps_through_pictures_zooms_and_downloads(stack, browsers):
    cid = new_group(stack, "Gallery test")
    tall = png_bytes(1200, 1600, (200, 60, 60))  # its large preview: 960 x 1280
    pictures = [
        upload_via_api(stack, "alice", cid, "first.png", png_bytes(400, 300, (20, 120, 250)), "image/png"),
        upload_via_api(stack, "alice", cid, "tall.png", tall, "image/png"),
    ]
    upload_via_api(stack, "alice", cid, "notes.txt", b"not a picture")
    pictures.append(upload_via_api(stack, "alice", cid, "last.png", png_bytes(500, 300, (20, 200, 90)), "image/png"))
    read_everything(stack, "bob", cid)
    bob = browsers(1280, 700)
    # Pages of three messages, the older ones held back: first.png is not loaded yet.
    override_config(bob, page_size=3)
    before_load(bob, HOLD_OLDER)
    sign_in(bob, stack, "bob")
    wait(bob, lambda _: previews_ready(stack, cid, pictures), seconds=30)
    open_group(bob, "Gallery test")
    card = file_card(bob, "tall.png")
    wait(bob, lambda _: card.find_elements(By.CSS_SELECTOR, "button.thumb img") or False)[0].click()

    # Opened on the picture chosen, the first of the two loaded, more to come (the text file
    # is not one); the keyboard is in the view. Previous reaches into the older page.
    wait(bob, lambda _: (viewer(bob) or {}).get("natural") == [960, 1280])
    v = viewer(bob)
    assert v["name"] == "tall.png" and v["position"] == " · 1 of 2+" and v["previous"] == "false", v
    assert v["focusInside"]
    press(bob, Keys.ARROW_LEFT)
    bob.driver.execute_script("window.__releaseOlder = true")
    wait(bob, lambda _: viewer(bob)["natural"] == [400, 300])
    v = viewer(bob)
    assert v["name"] == "first.png" and v["position"] == " · 1 of 3" and v["previous"] == "true", v
    press(bob, Keys.ARROW_RIGHT)
    wait(bob, lambda _: viewer(bob)["natural"] == [960, 1280])
    assert viewer(bob)["position"] == " · 2 of 3"
    # Fit: all of it on screen, nothing to scroll.
    left, top, right, bottom, _ = v["box"]
    assert not v["scrolls"] and left >= 0 and top >= 0 and right <= v["viewport"][0] and bottom <= v["viewport"][1], v

    # Zoom to its own size (a button, a key, a click on it): larger than the screen, it scrolls.
    bob.driver.find_element(By.XPATH, "//dialog//button[text()='Actual size']").click()
    wait(bob, lambda _: viewer(bob)["zoomed"] == "true")
    v = viewer(bob)
    assert v["box"][4] == 960 and v["scrolls"], v
    stage = bob.driver.find_element(By.CSS_SELECTOR, "dialog .viewer-stage")
    assert bob.driver.execute_script("arguments[0].scrollTop = 200; return arguments[0].scrollTop", stage) == 200
    press(bob, "-")
    wait(bob, lambda _: viewer(bob)["zoomed"] == "false" and not viewer(bob)["scrolls"])
    press(bob, "+")
    wait(bob, lambda _: viewer(bob)["zoomed"] == "true" and viewer(bob)["scrolls"])
    bob.driver.find_element(By.CSS_SELECTOR, "dialog .viewer-stage img").click()
    wait(bob, lambda _: viewer(bob)["zoomed"] == "false" and not viewer(bob)["scrolls"])

    # Next and previous: arrow keys and buttons, in the history's order (oldest first).
    bob.driver.find_element(By.XPATH, "//dialog//button[text()='Close']").send_keys(Keys.ARROW_RIGHT)
    wait(bob, lambda _: viewer(bob)["natural"] == [500, 300])
    v = viewer(bob)
    assert v["name"] == "last.png" and v["position"] == " · 3 of 3" and v["next"] == "true", v
    press(bob, Keys.ARROW_LEFT)
    press(bob, Keys.ARROW_LEFT)
    wait(bob, lambda _: viewer(bob)["natural"] == [400, 300])
    v = viewer(bob)
    assert v["name"] == "first.png" and v["previous"] == "true" and v["next"] == "false", v
    bob.driver.find_element(By.XPATH, "//dialog//button[text()='Next']").click()
    wait(bob, lambda _: viewer(bob)["natural"] == [960, 1280])

    # Download: the file itself, under its name (not the preview).
    bob.driver.find_element(By.XPATH, "//dialog//button[text()='Download']").click()
    assert downloaded(bob, "tall.png") == tall
    assert accessibility_problems(bob) == []

    # Escape closes it; the keyboard is back on the card of the picture shown.
    press(bob, Keys.ESCAPE)
    wait(bob, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog.viewer"))
    focused = bob.driver.switch_to.active_element
    assert focused.get_attribute("aria-label") == "View tall.png full screen"


def wav_bytes(seconds=1.0, rate=8000):
    """A sine tone as 16-bit PCM WAV (the standard library's wave module)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


# A short WebM video made by the browser itself (a canvas recorded by MediaRecorder): no video
# tools are needed on the test machine. Answers it base64-encoded.
RECORD_WEBM = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement('canvas');
canvas.width = 160;
canvas.height = 120;
const paint = canvas.getContext('2d');
const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm;codecs=vp8' });
const chunks = [];
let frame = 0;
const timer = setInterval(() => { paint.fillStyle = `hsl(${frame++ * 25}, 80%, 50%)`; paint.fillRect(0, 0, 160, 120); }, 40);
recorder.ondataavailable = (e) => chunks.push(e.data);
recorder.onstop = async () => {
  clearInterval(timer);
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  done(btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join('')));
};
recorder.start();
setTimeout(() => recorder.stop(), 1000);
"""

# The player in the view: its URL, whether it shows controls, and what it has loaded.
PLAYER = """
const m = document.querySelector('dialog.viewer[open] .viewer-stage :is(video, audio)');
return m && { tag: m.tagName, src: m.currentSrc, controls: m.controls, ready: m.readyState,
              width: m.videoWidth || 0, duration: m.duration, time: m.currentTime,
              name: document.querySelector('dialog .viewer-name').textContent };
"""


def player(browser):
    return browser.driver.execute_script(PLAYER)


def test_video_and_audio_play_in_the_view_from_their_presigned_url(stack, browsers):
    cid = new_group(stack, "Media test")
    alice = browsers()
    sign_in(alice, stack, "alice")
    video = base64.b64decode(alice.driver.execute_async_script(RECORD_WEBM))
    upload_via_api(stack, "alice", cid, "clip.webm", video, "video/webm")
    upload_via_api(stack, "alice", cid, "tone.wav", wav_bytes(), "audio/wav")

    bob = browsers()
    sign_in(bob, stack, "bob")
    open_group(bob, "Media test")
    file_card(bob, "tone.wav")
    play = wait(bob, lambda d: d.find_elements(By.CSS_SELECTOR, "button.thumb.play[aria-label='Play clip.webm']") or False)[0]
    play.click()
    # The video element plays the presigned URL (straight from storage), with its controls.
    wait(bob, lambda _: (player(bob) or {}).get("ready", 0) >= 1)
    p = player(bob)
    assert p["tag"] == "VIDEO" and p["controls"] and p["width"] == 160, p
    assert p["src"].startswith(stack.aws) and "X-Amz-Signature" in p["src"], p["src"]
    bob.driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      const v = document.querySelector('dialog video');
      v.muted = true;  // no sound device in a headless browser
      v.play().then(() => done(), (e) => done(String(e)));""")
    wait(bob, lambda _: player(bob)["time"] > 0)
    assert accessibility_problems(bob) == []

    # Next: the audio file, in an audio player.
    press(bob, Keys.ARROW_RIGHT)
    wait(bob, lambda _: (player(bob) or {}).get("tag") == "AUDIO" and player(bob)["ready"] >= 1)
    p = player(bob)
    assert p["name"] == "tone.wav" and p["controls"] and abs(p["duration"] - 1.0) < 0.05, p

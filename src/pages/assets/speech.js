// The waiting-room display's voice: a chime, then the call said in words ("Ticket quarante-deux,
// guichet trois"), one announcement after the other, none ever cut off.
//
//   const announcer = new Announcer("fr");
//   announcer.enable();                       // from a click: browsers play sound only after one
//   announcer.say("Ticket 42, guichet 3");    // queued behind what is being said
import { lang } from "./common.js";

const frUnits = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
  "douze", "treize", "quatorze", "quinze", "seize"];
const frTens = { 20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante" };

// 0 to 99 in French words (traditional spelling: vingt et un, soixante-dix, quatre-vingts).
function frBelow100(n, last) {
  if (n <= 16) return frUnits[n];
  if (n < 20) return `dix-${frUnits[n - 10]}`;
  if (n < 70) {
    const tens = Math.floor(n / 10) * 10, unit = n % 10;
    return unit === 0 ? frTens[tens] : unit === 1 ? `${frTens[tens]} et un` : `${frTens[tens]}-${frUnits[unit]}`;
  }
  if (n < 80) return n === 71 ? "soixante et onze" : `soixante-${frBelow100(n - 60)}`;
  if (n === 80) return last ? "quatre-vingts" : "quatre-vingt";
  return `quatre-vingt-${frBelow100(n - 80)}`;
}

function frBelow1000(n, last) {
  const hundreds = Math.floor(n / 100), rest = n % 100;
  let words = hundreds === 0 ? "" : hundreds === 1 ? "cent" : `${frUnits[hundreds]} cent${rest === 0 && last ? "s" : ""}`;
  if (rest > 0) words += `${words ? " " : ""}${frBelow100(rest, last)}`;
  return words;
}

export function frenchWords(n) {
  if (!Number.isInteger(n) || n < 0 || n >= 1e9) return String(n);
  if (n === 0) return "zéro";
  const millions = Math.floor(n / 1e6), thousands = Math.floor((n % 1e6) / 1000), rest = n % 1000;
  const parts = [];
  if (millions) parts.push(`${frBelow1000(millions, true)} million${millions > 1 ? "s" : ""}`);
  if (thousands) parts.push(thousands === 1 ? "mille" : `${frBelow1000(thousands, false)} mille`);
  if (rest) parts.push(frBelow1000(rest, true));
  return parts.join(" ");
}

const enUnits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
  "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const enTens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

export function englishWords(n) {
  if (!Number.isInteger(n) || n < 0 || n >= 1e9) return String(n);
  const below1000 = (m) => {
    const hundreds = Math.floor(m / 100), rest = m % 100;
    const tail = rest < 20 ? enUnits[rest] : `${enTens[Math.floor(rest / 10)]}${rest % 10 ? `-${enUnits[rest % 10]}` : ""}`;
    return hundreds ? `${enUnits[hundreds]} hundred${rest ? ` and ${tail}` : ""}` : tail;
  };
  if (n < 1000) return below1000(n);
  const parts = [];
  for (const [size, name] of [[1e6, "million"], [1000, "thousand"]]) {
    if (n >= size) {
      parts.push(`${below1000(Math.floor(n / size))} ${name}`);
      n %= size;
    }
  }
  if (n) parts.push(below1000(n));
  return parts.join(" ");
}

// Every run of digits in `text` said as words: "guichet-2" -> "guichet-deux".
export function spoken(text) {
  const words = lang === "fr" ? frenchWords : englishWords;
  return String(text).replace(/\d+/g, (digits) => words(Number(digits)));
}

export class Announcer {
  constructor() {
    this.queue = [];
    this.speaking = false;
    this.enabled = false;
  }

  // From a user's gesture: the audio context may start, and speech is allowed.
  enable() {
    this.enabled = true;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (Context && !this.audio) this.audio = new Context();
    this.audio?.resume();
  }

  say(text) {
    if (!this.enabled) return;
    this.queue.push(text);
    if (!this.speaking) this.next();
  }

  next() {
    const text = this.queue.shift();
    if (text === undefined) {
      this.speaking = false;
      return;
    }
    this.speaking = true;
    this.chime().then(() => this.speak(text)).then(() => this.next());
  }

  // Two soft tones, then a pause.
  chime() {
    if (!this.audio) return Promise.resolve();
    const start = this.audio.currentTime + 0.05;
    for (const [offset, frequency] of [[0, 880], [0.35, 660]]) {
      const tone = this.audio.createOscillator(), gain = this.audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.4, start + offset + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.6);
      tone.connect(gain).connect(this.audio.destination);
      tone.start(start + offset);
      tone.stop(start + offset + 0.65);
    }
    return new Promise((resolve) => setTimeout(resolve, 1100));
  }

  // Resolves when the sentence has been said; a voice that never reports its end (or none at
  // all) is given a bounded time, so the queue never stalls.
  speak(text) {
    return new Promise((resolve) => {
      if (!("speechSynthesis" in window)) return resolve();
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = lang === "fr" ? "fr-FR" : "en-GB";
      utterance.rate = 0.9;
      const voice = speechSynthesis.getVoices().find((v) => v.lang.startsWith(lang));
      if (voice) utterance.voice = voice;
      const done = () => {
        clearTimeout(guard);
        resolve();
      };
      const guard = setTimeout(done, 2000 + text.length * 120);
      utterance.onend = done;
      utterance.onerror = done;
      speechSynthesis.speak(utterance);
    });
  }
}

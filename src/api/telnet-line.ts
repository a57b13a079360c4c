// One line of OpenTSDB's telnet-style protocol:
//   put <metric> <timestamp> <value> <tagk=tagv> [<tagk=tagv> ...]
//   version | help | exit | auth <token>
// Words are separated by runs of spaces or tabs. The point itself (names,
// timestamp, value) is checked by validatePoint like every other put; this
// parser only splits words and `tagk=tagv` pairs, with OpenTSDB's messages.
import type { RawPoint } from '../tsdb/validate.js';

export type TelnetCommand =
  | { kind: 'put'; point: RawPoint }
  | { kind: 'bad-put'; message: string }
  | { kind: 'version' }
  | { kind: 'help' }
  | { kind: 'exit' }
  | { kind: 'auth'; token: string }
  | { kind: 'empty' }
  | { kind: 'unknown'; command: string };

export function parseTelnetLine(line: string): TelnetCommand {
  const words = line.trim().split(/[ \t]+/);
  const command = words[0] ?? '';
  switch (command) {
    case '':
      return { kind: 'empty' };
    case 'put':
      return parsePut(words);
    case 'version':
      return { kind: 'version' };
    case 'help':
      return { kind: 'help' };
    case 'exit':
      return { kind: 'exit' };
    case 'auth':
      return { kind: 'auth', token: words[1] ?? '' };
    default:
      return { kind: 'unknown', command: command.slice(0, 64) };
  }
}

function parsePut(words: string[]): TelnetCommand {
  if (words.length < 5) return { kind: 'bad-put', message: `not enough arguments (need least 4, got ${words.length - 1})` };
  const tags: Record<string, string> = {};
  for (let i = 4; i < words.length; i++) {
    const word = words[i]!;
    const eq = word.indexOf('=');
    if (eq <= 0 || eq === word.length - 1 || word.indexOf('=', eq + 1) >= 0) return { kind: 'bad-put', message: `invalid tag: ${word}` };
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (Object.hasOwn(tags, key) && tags[key] !== value) return { kind: 'bad-put', message: `duplicate tag: ${word}, tags=${JSON.stringify(tags)}` };
    // defineProperty: a tag named "__proto__" stays a tag.
    Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { kind: 'put', point: { metric: words[1], timestamp: words[2], value: words[3], tags } };
}

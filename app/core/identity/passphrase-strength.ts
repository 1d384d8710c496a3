/**
 * Whether a new passphrase is too weak to protect a signing key, and why. NIST SP 800-63B's
 * approach: a minimum length, a list of common choices and trivially guessable patterns, and no
 * composition rules. Only new passphrases are judged; keys made under older rules still unlock.
 */

export const MIN_PASSPHRASE_LENGTH = 8;
export const MAX_PASSPHRASE_LENGTH = 1024;

/** Frequent passphrases of 8 or more characters (lower case), from public breach top lists. */
const COMMON = new Set([
  '12345678',
  '123456789',
  '1234567890',
  '0123456789',
  '87654321',
  '11111111',
  '00000000',
  '12341234',
  '11223344',
  '12121212',
  '123123123',
  '147258369',
  '987654321',
  'password',
  'password1',
  'password12',
  'password123',
  'password!',
  'passw0rd',
  'p@ssw0rd',
  'p@ssword',
  'pa$$word',
  'passphrase',
  'qwertyui',
  'qwertyuiop',
  'qwerty123',
  'qwerty12',
  '1q2w3e4r',
  '1qaz2wsx',
  'zaq12wsx',
  'asdfghjk',
  'asdfghjkl',
  'zxcvbnm1',
  'iloveyou',
  'iloveyou1',
  'sunshine',
  'princess',
  'football',
  'baseball',
  'welcome1',
  'welcome123',
  'letmein1',
  'letmein123',
  'trustno1',
  'superman',
  'starwars',
  'whatever',
  'dragon123',
  'monkey123',
  'abc12345',
  'abcd1234',
  'abcdefgh',
  'changeme',
  'changeme1',
  'computer',
  'internet',
  'michelle',
  'jennifer',
  'mustang1',
  'shadow12',
  'master123',
  'administrator',
  'admin123',
  'admin1234',
  'secret123',
  'mypassword',
  'default1',
  'temp1234',
  'test1234',
  'testtest',
  'gradproof',
  'gradproof1',
  'gradproof123',
]);

/** Runs such as "12345678", "abcdefgh" or "87654321": each character one step from the last. */
function isStepSequence(s: string): boolean {
  if (s.length < 4) return false;
  const step = s.charCodeAt(1) - s.charCodeAt(0);
  if (Math.abs(step) !== 1) return false;
  for (let i = 2; i < s.length; i++) if (s.charCodeAt(i) - s.charCodeAt(i - 1) !== step) return false;
  return true;
}

/** A short pattern repeated ("abababab", "123123123"). */
function isRepeatedPattern(s: string): boolean {
  for (let len = 1; len <= Math.floor(s.length / 2); len++) {
    if (s.length % len !== 0) continue;
    if (s.slice(0, len).repeat(s.length / len) === s) return true;
  }
  return false;
}

/**
 * The reason a new passphrase is refused, or undefined when it may be used. `name` is the
 * identity's name: a passphrase that is the name is refused too.
 */
export function passphraseProblem(passphrase: string, name?: string): string | undefined {
  const chars = [...passphrase];
  if (chars.length < MIN_PASSPHRASE_LENGTH)
    return `the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`;
  if (chars.length > MAX_PASSPHRASE_LENGTH) return `the passphrase must be at most ${MAX_PASSPHRASE_LENGTH} characters`;
  if (passphrase.trim() === '') return 'the passphrase is only spaces; choose words or characters that are not blank';
  const folded = passphrase.normalize('NFKC').toLowerCase();
  const compact = folded.replace(/\s+/g, '');
  if (new Set([...compact]).size === 1)
    return 'the passphrase repeats one character; choose several words or a longer mix of characters';
  if (isRepeatedPattern(compact)) return 'the passphrase repeats a short pattern; choose several unrelated words';
  if (isStepSequence(compact)) return 'the passphrase is a run of consecutive characters (digits or letters in a row)';
  if (COMMON.has(compact) || COMMON.has(folded))
    return 'the passphrase is one of the most common passwords; choose several unrelated words instead';
  if (new Set([...compact]).size < 4)
    return 'the passphrase uses fewer than 4 different characters; choose several words or a longer mix';
  if (name) {
    const n = name.normalize('NFKC').toLowerCase().replace(/\s+/g, '');
    if (n.length > 0 && (compact === n || compact === [...n].reverse().join('')))
      return "the passphrase is the identity's name; choose something only you know";
  }
  return undefined;
}

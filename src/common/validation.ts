/** Input checks shared by the API and the manifest: URLs, control characters, body depth, the pipe. */
import { BadRequestException, ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { Matches, ValidateBy, type ValidatorOptions } from 'class-validator';

/** C0 control characters and DEL: Postgres cannot store NUL at all, and none belongs in an id, a token or a name. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** Refuses a string with a control character (ids and tokens are used as they are, so they are not cleaned). */
export const NoControlCharacters = () =>
  Matches(/^[^\u0000-\u001f\u007f]*$/, { message: '$property must not contain control characters' });

export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, '');
}

/** Untrusted text as shown (a log line, a report): at most `max` characters, then an ellipsis. */
export function clipped(text: string, max: number): string {
  const characters = [...text];
  return characters.length > max ? `${characters.slice(0, max).join('')}…` : text;
}

/** class-transformer Transform for display names: control characters are dropped. */
export const withoutControlCharacters = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? stripControlCharacters(value) : value;

/** class-validator's IsUrl options for an http(s) URL whose host may be a bare name (e.g. `backend`). */
export const HTTP_URL_OPTIONS: { protocols: string[]; require_protocol: boolean; require_tld: boolean } = {
  protocols: ['http', 'https'],
  require_protocol: true,
  require_tld: false,
};

/**
 * Refuses a URL with a user name or password in it: it would replace the job's Bearer token with Basic auth, and
 * the password would travel into error messages.
 */
export const NoUserInfo = () =>
  ValidateBy({
    name: 'noUserInfo',
    validator: {
      validate: (value: unknown) => {
        if (typeof value !== 'string') return true;
        try {
          const url = new URL(value);
          return !url.username && !url.password;
        } catch {
          return true; // Not a URL at all: IsUrl says so.
        }
      },
      defaultMessage: () => '$property must not contain a user name or password',
    },
  });

/** Deeper request bodies are refused before validation (class-transformer recurses, and a 30,000-deep array overflows its stack). */
export const MAX_BODY_DEPTH = 32;

/** Whether arrays and objects in `value` nest deeper than `limit` (checked without recursion). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** The service's ValidationPipe: bodies that nest too deeply are a 400 before class-transformer sees them. */
export class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (nestsDeeperThan(value, MAX_BODY_DEPTH)) {
      throw new BadRequestException(`request ${metadata.type} nests deeper than ${MAX_BODY_DEPTH} levels`);
    }
    return super.transform(value, metadata);
  }
}

/** Request bodies: unknown fields are an error, not silently dropped; one message per field. */
export const STRICT_VALIDATION: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  stopAtFirstError: true,
};

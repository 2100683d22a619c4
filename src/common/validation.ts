import { Matches, type ValidatorOptions } from 'class-validator';

/** C0 control characters and DEL: Postgres cannot store NUL at all, and none belongs in an id, a token or a name. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** Refuses a string with a control character (ids and tokens are used as they are, so they are not cleaned). */
export const NoControlCharacters = () =>
  Matches(/^[^\u0000-\u001f\u007f]*$/, { message: '$property must not contain control characters' });

export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, '');
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

/** Request bodies: unknown fields are an error, not silently dropped; one message per field. */
export const STRICT_VALIDATION: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  stopAtFirstError: true,
};

/** A capture's name in the library (DATA/captures/NAME): the server checks it, the dashboard before an upload. */
export const CAPTURE_NAME = {
  re: /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.ljsonl(\.gz)?$/,
  says: 'a capture name is letters, digits, . _ - and ends in .ljsonl or .ljsonl.gz',
} as const;

// Package redact keeps secrets out of everything smp writes or prints: result documents,
// exports, reports, status lines, error messages and logs. Results are made to be shared;
// the credentials a run used to reach its target are not.
//
// A secret is replaced by a marker, "redacted-" and 12 hex digits of an HMAC-SHA256 of the
// secret keyed with a salt: two runs that used different tokens show different markers,
// two runs with the same token and the same salt the same one, and nobody who reads the
// marker can test guesses at a weak password without the salt. The salt (Salt) comes from
// $SMP_REDACT_SALT or, failing that, from a file in the user's configuration folder that
// the first run creates, so markers compare across the runs of one user on one machine;
// CI sets $SMP_REDACT_SALT to compare across machines.
//
// What counts as a secret:
//   - the values of headers named Authorization, Proxy-Authorization, Cookie and
//     Set-Cookie, and of any header whose name has a word such as token, secret, key,
//     password, auth, session, signature or credential in it (X-Api-Key,
//     X-Auth-Token); the scheme of an Authorization value and the names of cookies stay;
//   - the userinfo of a URL (user:password@) and the values of query parameters (and
//     fragment parameters) named like such headers (?token=, ?access_token=, ?sig=,
//     X-Amz-Signature);
//   - in free text: URLs (as above), "Bearer …" and "Basic …" credentials, JSON Web
//     Tokens, "Authorization: …"-style header lines, and every value registered with Add
//     (the secrets a plan took from the environment or a file, and the header values
//     above once seen).
//
// Markers are left as they are, so redacting twice changes nothing.
//
// Imports: the standard library only.
package redact

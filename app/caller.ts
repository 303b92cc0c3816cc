/** The authenticated caller every use case acts for, as the API's authenticator (or Slack's signed user) resolved it. */
export interface Caller {
  /** Stable id: `key:<prefix>`, `jwt:<sub>`, `slack:<user>`. */
  id: string;
  /** Who acted, as people read it in history and audit: the key's name or the token's subject. */
  actor: string;
}

import { z } from 'zod';

/**
 * Our users are NetBox users by name: who merged (`merged_by.username`) and the shim's `actor` are looked up here
 * exactly as NetBox spells them. NetBox allows what Django's UnicodeUsernameValidator allows: up to 150 letters
 * (any script), digits and @ . + - _.
 */
export const Username = z.string().trim().min(1).max(150)
  .regex(/^[\p{L}\p{N}_.@+-]+$/u, 'letters, digits and @.+-_ only (a NetBox username)');

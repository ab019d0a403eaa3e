import { searchAttributeTypeNames } from '../infra/temporal-dev-server';
import { WORKFLOW_SEARCH_ATTRIBUTES } from '../workflows/definitions';

/** The search attributes the workflows use (named once in workflows/definitions.ts), as the Temporal CLI spells their types. */
export const SEARCH_ATTRIBUTES = searchAttributeTypeNames(WORKFLOW_SEARCH_ATTRIBUTES);

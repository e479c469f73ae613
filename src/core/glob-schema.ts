/** Glob fields of the policy documents, bounded: matching costs pattern length × text length (core/glob.ts), and tenants write namespaced policies. */
import Type from 'typebox';
import { nonEmptyString } from './schema.ts';

export const MAX_GLOB_LENGTH = 255;
export const MAX_GLOBS = 64;

export const globString = (description?: string) => nonEmptyString({ maxLength: MAX_GLOB_LENGTH, ...(description === undefined ? {} : { description }) });
export const globList = (description?: string) => Type.Array(globString(), { maxItems: MAX_GLOBS, ...(description === undefined ? {} : { description }) });

import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ApiError } from '../errors';
import { schemas, type SchemaName } from './openapi';

const ajv = new Ajv2020({ allErrors: false, strict: true, unicodeRegExp: true });
addFormats(ajv);
// The OpenAPI document's own container keyword, so its schemas can be added as one document.
ajv.addKeyword({ keyword: 'components' });
// Schemas refer to each other as the OpenAPI document does.
ajv.addSchema({ $id: 'medprov', components: { schemas } });

const validators = new Map<SchemaName, ValidateFunction>();

/** Checks a request body against its schema in the OpenAPI document; refuses with a sentence. */
export function validateBody<T>(name: SchemaName, body: unknown): T {
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile({ $ref: `medprov#/components/schemas/${name}` });
    validators.set(name, validate);
  }
  if (!validate(body)) throw new ApiError(400, codeOf(validate.errors?.[0]), sentenceOf(validate.errors?.[0]));
  return body as T;
}

function codeOf(error: ErrorObject | undefined): string {
  return error?.keyword === 'additionalProperties' ? 'UNKNOWN_FIELD' : 'INVALID_REQUEST';
}

function sentenceOf(error: ErrorObject | undefined): string {
  if (!error) return 'The request body is not valid.';
  const where = error.instancePath ? `"${error.instancePath.slice(1).replace(/\//g, '.')}"` : 'The request body';
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where === 'The request body' ? where : where} has a field this API does not know: "${String(error.params.additionalProperty).slice(0, 64)}".`;
    case 'required':
      return `${where} is missing the field "${String(error.params.missingProperty)}".`;
    case 'pattern':
      return `${where} has the wrong format${error.parentSchema && 'description' in error.parentSchema ? `: expected ${String(error.parentSchema.description)}` : ''}.`;
    case 'enum':
      return `${where} must be one of ${(error.params.allowedValues as string[]).join(', ')}.`;
    case 'type':
      return `${where} must be of type ${String(error.params.type)}.`;
    default:
      return `${where} ${error.message ?? 'is not valid'}.`;
  }
}

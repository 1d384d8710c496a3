export { CancelledError, GradProofError, InputError, NotFoundError, SubjectError } from '../../core/errors.js';

/** The public members of a class: what a fake of it must provide (private members are not part of the contract). */
export type PublicOf<T> = { [K in keyof T]: T[K] };

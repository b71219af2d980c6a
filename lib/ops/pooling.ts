// PLACEHOLDER: filled by the work on this area.
export {};

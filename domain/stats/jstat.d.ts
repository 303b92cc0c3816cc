/** The slice of jStat's API this project uses; jstat ships no type declarations. */
declare module 'jstat' {
  interface Continuous {
    cdf(x: number, ...params: number[]): number;
    inv(p: number, ...params: number[]): number;
    pdf(x: number, ...params: number[]): number;
  }
  const jStat: {
    normal: Continuous;
    studentt: Continuous;
    chisquare: Continuous;
    beta: Continuous;
    gamma: Continuous;
  };
  export default jStat;
}

import styled from "styled-components";
import { QUICK_FILTERS, type QuickFilter } from "../market/boardQuery";
import { useBars } from "../market/MarketContext";
import { Button, TextInput } from "./controls";
import { SymbolSearch } from "./SymbolSearch";

/** One line at every width: on a phone the quick filters become a select and the sparkline toggle goes. */
const Bar = styled.div`
  display: flex;
  flex-wrap: nowrap;
  gap: 8px;
  align-items: center;
  @media (max-width: 700px) { gap: 4px; }
`;

const Filter = styled.label`
  flex: 1 1 160px;
  max-width: 240px;
  min-width: 0;
  @media (max-width: 700px) { flex: 1 1 80px; max-width: none; }
`;

const Quick = styled.div`
  display: flex;
  gap: 4px;
  @media (max-width: 700px) { display: none; }
`;

const QuickSelect = styled.select`
  display: none;
  min-height: 32px;
  border-radius: 6px;
  border: 1px solid ${({ theme }) => theme.colors.border};
  background: ${({ theme }) => theme.colors.surface};
  color: ${({ theme }) => theme.colors.text};
  @media (max-width: 700px) { display: block; flex: 0 0 auto; }
`;

const SparkToggle = styled(Button)`
  @media (max-width: 700px) { display: none; }
`;

interface BoardToolbarProps {
  text: string;
  quick: QuickFilter;
  onText(text: string): void;
  onQuick(quick: QuickFilter): void;
}

/** Filter the board by text or by a quick filter; add symbols through the search; sparklines on or off. */
export function BoardToolbar({ text, quick, onText, onQuick }: BoardToolbarProps) {
  const { sparklines, setSparklines } = useBars();
  return (
    <Bar>
      <Filter>
        <span className="visually-hidden">Filter the board</span>
        <TextInput
          type="search"
          placeholder="Filter…"
          value={text}
          onChange={(event) => onText(event.target.value)}
          data-testid="filter-input"
        />
      </Filter>
      <Quick role="group" aria-label="Quick filters">
        {QUICK_FILTERS.map((f) => (
          <Button
            key={f.id}
            type="button"
            aria-pressed={quick === f.id}
            onClick={() => onQuick(f.id)}
            data-testid={`quick-filter-${f.id}`}
          >
            {f.label}
          </Button>
        ))}
      </Quick>
      <QuickSelect
        aria-label="Quick filter"
        value={quick}
        onChange={(event) => onQuick(event.target.value as QuickFilter)}
        data-testid="quick-filter-select"
      >
        {QUICK_FILTERS.map((f) => (
          <option key={f.id} value={f.id}>
            {f.label}
          </option>
        ))}
      </QuickSelect>
      <SymbolSearch />
      <SparkToggle
        type="button"
        aria-pressed={sparklines}
        onClick={() => setSparklines(!sparklines)}
        data-testid="sparkline-toggle"
        title="A sparkline of the day in each row"
      >
        Sparklines
      </SparkToggle>
    </Bar>
  );
}
